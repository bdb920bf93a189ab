"""The fast path: a worker applies its own call.done when the execution's lock is free,
and leaves it to the engine when it is not (or when the fast path is off)."""

from __future__ import annotations

import asyncio

from noetl_pg.engine.daemon import Engine
from noetl_pg.store.db import connect
from tests.integration.worker.conftest import run_worker_until
from tests.support.catalog import register_playbook
from tests.support.maintenance import reclaim_expired_leases
from tests.support.processes import kill, start_daemon, terminate, wait_until

CHAIN = """
apiVersion: noetl.io/v2
kind: Playbook
metadata: {name: chain, path: tests/fast-chain}
workload: {n: 1}
workflow:
  - step: start
    args: {v: "{{ workload.n }}"}
    tool: {kind: noop}
    next: middle
  - step: middle
    args: {v: "{{ start.v + 1 }}"}
    tool: {kind: noop}
    next: end
  - step: end
    args: {v: "{{ middle.v + 1 }}"}
    tool: {kind: noop}
"""


def _started(conn, execution_id: str) -> None:
    """The chain started and its workflow.start applied by one engine pass."""
    register_playbook(conn, CHAIN)
    conn.execute(
        "INSERT INTO noetl.event (execution_id, event_type, payload)"
        " VALUES (%s, 'workflow.start', '{\"path\": \"tests/fast-chain\"}')",
        (execution_id,),
    )
    assert asyncio.run(Engine(conn.info.dsn).run_until_idle()) == 1


def _status(conn, execution_id: str) -> str | None:
    row = conn.execute(
        "SELECT status FROM noetl.execution WHERE execution_id = %s", (execution_id,)
    ).fetchone()
    return row and row["status"]


def _calls(conn, execution_id: str) -> list[dict]:
    return conn.execute(
        "SELECT node_name, processed_by FROM noetl.event"
        " WHERE execution_id = %s AND event_type = 'call.done' ORDER BY event_id",
        (execution_id,),
    ).fetchall()


def test_a_worker_alone_runs_the_chain_to_its_end(dsn, conn):
    _started(conn, "fast-1")
    worker = run_worker_until(dsn, lambda c: _status(c, "fast-1") == "completed", fast_path=True)
    row = conn.execute(
        "SELECT result FROM noetl.execution WHERE execution_id = 'fast-1'"
    ).fetchone()
    assert row["result"] == {"v": 3}
    calls = _calls(conn, "fast-1")
    assert [c["node_name"] for c in calls] == ["start", "middle", "end"]
    assert {c["processed_by"] for c in calls} == {worker.worker_id}  # no engine involved
    waiting = conn.execute(
        "SELECT count(*) AS n FROM noetl.event"
        " WHERE execution_id = 'fast-1' AND processed_at IS NULL"
    ).fetchone()
    assert waiting["n"] == 0
    ids = [
        r["event_id"]
        for r in conn.execute(
            "SELECT event_id FROM noetl.event WHERE execution_id = 'fast-1' ORDER BY created_at"
        ).fetchall()
    ]
    assert ids == sorted(ids)  # numbered in commit order, as on the engine's path


def test_a_held_execution_lock_leaves_the_call_done_to_the_engine(dsn, conn):
    _started(conn, "fast-2")
    with connect(dsn) as holder:  # an engine busy with this execution
        holder.execute("SELECT pg_advisory_xact_lock(7001, hashtext('fast-2'))")
        run_worker_until(
            dsn,
            lambda c: (
                c.execute("SELECT count(*) AS n FROM noetl.queue WHERE status = 'done'").fetchone()[
                    "n"
                ]
                == 1
            ),
            fast_path=True,
        )
        holder.rollback()
    assert [c["processed_by"] for c in _calls(conn, "fast-2")] == [None]  # left waiting
    assert asyncio.run(Engine(dsn).run_until_idle()) >= 1
    assert _calls(conn, "fast-2")[0]["processed_by"] is not None


def test_with_the_fast_path_off_every_call_done_waits_for_the_engine(dsn, conn):
    _started(conn, "fast-3")
    run_worker_until(
        dsn,
        lambda c: (
            c.execute("SELECT count(*) AS n FROM noetl.queue WHERE status = 'done'").fetchone()["n"]
            == 1
        ),
        fast_path=False,
    )
    assert [c["processed_by"] for c in _calls(conn, "fast-3")] == [None]


def test_a_worker_killed_inside_its_fast_path_transaction_loses_nothing(dsn, conn, tmp_path):
    _started(conn, "fast-4")
    with connect(dsn) as holder:  # hold the execution row: the worker's state write waits
        holder.execute("SELECT 1 FROM noetl.execution WHERE execution_id = 'fast-4' FOR UPDATE")
        worker = start_daemon("worker", dsn, tmp_path, "--lease-seconds", "2", NOETL_FAST_PATH="1")
        try:
            wait_until(
                lambda: conn.execute(
                    "SELECT count(*) AS n FROM pg_stat_activity WHERE datname = current_database()"
                    " AND wait_event_type = 'Lock' AND query LIKE '%noetl.execution%'"
                ).fetchone()["n"],
                "the worker's fast-path transaction waiting on the execution row",
            )
        finally:
            kill(worker)  # mid-transaction: fenced update and call.done already written
        holder.rollback()
    assert _calls(conn, "fast-4") == []  # all of it rolled back
    reclaim_expired_leases(dsn)  # the engines' maintenance leader would do this
    again = start_daemon(
        "worker",
        dsn,
        tmp_path,
        "--lease-seconds",
        "2",
        "--safety-interval",
        "1",
        NOETL_FAST_PATH="1",
    )
    try:
        wait_until(lambda: _status(conn, "fast-4") == "completed", "the chain completes")
    finally:
        terminate(again)
    assert [c["node_name"] for c in _calls(conn, "fast-4")] == ["start", "middle", "end"]
