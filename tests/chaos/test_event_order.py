"""Invariant 2 under concurrent inserts: the events of one execution are applied in
insertion (event_id) order, even when the transaction that inserted an earlier event
commits after a later one.

The kill runs found it: two workers reported two iterations of one loop at the same
instant; the report with the lower event_id committed last, and the engine had already
applied the higher one. Fixed by sql/003_event_commit_order.sql (event ids are drawn under
a per-execution lock, so they follow commit order); this is its regression test.
"""

from __future__ import annotations

import threading
import time

import psycopg
import pytest

from tests.chaos.support import wait_for
from tests.support.catalog import register_playbook
from tests.support.processes import start_daemon, terminate

pytestmark = pytest.mark.chaos

PLAYBOOK = """
apiVersion: noetl.io/v2
kind: Playbook
metadata: {name: waits, path: chaos/waits}
workflow:
  - step: start
    tool: {kind: noop}
"""

STRAY_DONE = (
    "INSERT INTO noetl.event (execution_id, event_type, node_name, payload, queue_id)"
    " VALUES (%s, 'call.done', 'start', '{\"response\": {}}', NULL) RETURNING event_id"
)


def _processed(conn, event_id: int) -> bool:
    row = conn.execute(
        "SELECT processed_at IS NOT NULL AS done FROM noetl.event WHERE event_id = %s",
        [event_id],
    ).fetchone()
    return bool(row and row["done"])


def test_an_event_committed_late_is_still_applied_before_later_numbered_ones(
    chaos_dsn, chaos_conn, tmp_path
):
    register_playbook(chaos_conn, PLAYBOOK)
    engine = start_daemon("engine", chaos_dsn, tmp_path, "--safety-interval", "0.5")
    try:
        chaos_conn.execute(
            "INSERT INTO noetl.event (execution_id, event_type, payload)"
            " VALUES ('order-1', 'workflow.start', '{\"path\": \"chaos/waits\"}')"
        )
        wait_for(
            lambda: (
                chaos_conn.execute(
                    "SELECT 1 FROM noetl.execution WHERE execution_id = 'order-1'"
                    " AND status = 'running'"
                ).fetchone()
                is not None
            ),
            "the execution runs (its command waits: no worker)",
        )
        # T1 inserts the earlier event and keeps its transaction open.
        with psycopg.connect(chaos_dsn) as slow:
            first = slow.execute(STRAY_DONE, ["order-1"]).fetchone()[0]
            later: list[int] = []

            def insert_later() -> None:
                with psycopg.connect(chaos_dsn, autocommit=True) as fast:
                    later.append(fast.execute(STRAY_DONE, ["order-1"]).fetchone()[0])

            # An engine that orders inserts may make this one wait for T1: a thread.
            inserter = threading.Thread(target=insert_later, daemon=True)
            inserter.start()
            deadline = time.monotonic() + 5.0  # a scenario step, not an assertion
            while time.monotonic() < deadline and not (later and _processed(chaos_conn, later[0])):
                time.sleep(0.05)
            slow.commit()
        inserter.join(timeout=60)
        second = later[0]
        assert first < second
        wait_for(
            lambda: _processed(chaos_conn, first) and _processed(chaos_conn, second),
            "both events applied",
        )
        rows = {
            r["event_id"]: r
            for r in chaos_conn.execute(
                "SELECT event_id, processed_at, xmin::text AS tx FROM noetl.event"
                " WHERE event_id = ANY(%s)",
                [[first, second]],
            ).fetchall()
        }
        a, b = rows[first], rows[second]
        assert a["tx"] == b["tx"] or a["processed_at"] <= b["processed_at"], (
            f"event {second} was applied before event {first}"
        )
        last = chaos_conn.execute(
            "SELECT last_event_id FROM noetl.execution WHERE execution_id = 'order-1'"
        ).fetchone()["last_event_id"]
        assert last == second
    finally:
        terminate(engine)
