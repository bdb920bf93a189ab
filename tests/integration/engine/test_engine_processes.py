"""Engine processes: many at once, killed mid-flight, started late. Nothing lost or doubled."""

from __future__ import annotations

import threading
import time

from noetl_pg.store.db import connect
from tests.support.catalog import register_playbook
from tests.support.fake_worker import answer_all
from tests.support.processes import kill, start_daemon, terminate, wait_until

PLAYBOOK = """
apiVersion: noetl.io/v2
kind: Playbook
metadata: {name: three, path: tests/three}
workload: {n: 0}
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
STEPS = ["start", "middle", "end"]


def start_executions(conn, count: int, prefix: str) -> list[str]:
    ids = [f"{prefix}-{i}" for i in range(count)]
    with conn.cursor() as cur:
        cur.executemany(
            "INSERT INTO noetl.event (execution_id, event_type, payload) VALUES"
            " (%s, 'workflow.start', jsonb_build_object('path', 'tests/three',"
            " 'workload', jsonb_build_object('n', %s::int)))",
            [(eid, i) for i, eid in enumerate(ids)],
        )
    return ids


class FakeWorkers:
    """A thread that keeps answering commands, like a worker pool would."""

    def __init__(self, dsn: str) -> None:
        self.dsn = dsn
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self.stop.is_set():
            if not answer_all(self.dsn):
                time.sleep(0.02)

    def __enter__(self) -> FakeWorkers:
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stop.set()
        self.thread.join(timeout=30)


def completed_count(dsn: str) -> int:
    with connect(dsn) as conn:
        row = conn.execute(
            "SELECT count(*) AS n FROM noetl.execution WHERE status = 'completed'"
        ).fetchone()
        return row["n"]


def assert_every_execution_exact(conn, ids: list[str]) -> None:
    rows = conn.execute(
        "SELECT execution_id, status, result, events_applied, last_event_id"
        " FROM noetl.execution WHERE execution_id = ANY(%s)",
        [ids],
    ).fetchall()
    assert len(rows) == len(ids)
    by_id = {r["execution_id"]: r for r in rows}
    for i, eid in enumerate(ids):
        assert by_id[eid]["status"] == "completed", by_id[eid]
        assert by_id[eid]["result"] == {"v": i + 2}
    # Every client event applied exactly once: one workflow.start + one call.done per step.
    applied = conn.execute(
        "SELECT execution_id, count(*) AS n, count(processed_at) AS processed"
        " FROM noetl.event WHERE execution_id = ANY(%s)"
        " AND event_type IN ('workflow.start', 'call.done') GROUP BY execution_id",
        [ids],
    ).fetchall()
    for row in applied:
        assert row["n"] == row["processed"] == 1 + len(STEPS)
        assert by_id[row["execution_id"]]["events_applied"] == row["n"]
    # No step entered or exited twice; the engine's own events are in causal order.
    sequences = conn.execute(
        "SELECT execution_id, array_agg(event_type || ':' || coalesce(node_name, '')"
        " ORDER BY event_id) AS seq FROM noetl.event WHERE execution_id = ANY(%s)"
        " GROUP BY execution_id",
        [ids],
    ).fetchall()
    expected = ["workflow.start:"]
    for step in STEPS:
        expected += [f"step.enter:{step}", f"call.done:{step}", f"step.exit:{step}"]
    expected.append("workflow.complete:")
    for row in sequences:
        assert row["seq"] == expected, row
    # Applied in insertion order: the applied (client) events of one execution were
    # processed in event_id order.
    disorder = conn.execute(
        "SELECT count(*) AS n FROM (SELECT processed_at, lag(processed_at) OVER"
        " (PARTITION BY execution_id ORDER BY event_id) AS prev FROM noetl.event"
        " WHERE execution_id = ANY(%s) AND event_type IN ('workflow.start', 'call.done')) t"
        " WHERE processed_at < prev",
        [ids],
    ).fetchone()
    assert disorder["n"] == 0
    leftover = conn.execute(
        "SELECT count(*) AS n FROM noetl.queue WHERE status NOT IN ('done')"
    ).fetchone()
    assert leftover["n"] == 0


def test_two_engines_on_200_executions_apply_each_event_once_in_order(dsn, conn, tmp_path):
    register_playbook(conn, PLAYBOOK)
    engines = [start_daemon("engine", dsn, tmp_path) for _ in range(2)]
    try:
        ids = start_executions(conn, 200, "pair")
        with FakeWorkers(dsn):
            wait_until(lambda: completed_count(dsn) == 200, timeout=120)
    finally:
        for engine in engines:
            terminate(engine)
    assert_every_execution_exact(conn, ids)
    by_engine = conn.execute(
        "SELECT count(DISTINCT processed_by) AS n FROM noetl.event WHERE processed_by IS NOT NULL"
    ).fetchone()
    assert by_engine["n"] >= 1


def test_engine_killed_mid_flight_loses_nothing_and_another_finishes(dsn, conn, tmp_path):
    register_playbook(conn, PLAYBOOK)
    first = start_daemon("engine", dsn, tmp_path)
    ids = start_executions(conn, 150, "kill")
    with FakeWorkers(dsn):
        wait_until(lambda: completed_count(dsn) >= 10, timeout=60)
        kill(first)
        assert completed_count(dsn) < 150, "the kill came too late to prove anything"
        second = start_daemon("engine", dsn, tmp_path)
        try:
            wait_until(lambda: completed_count(dsn) == 150, timeout=120)
        finally:
            terminate(second)
    assert_every_execution_exact(conn, ids)


def test_event_inserted_while_no_engine_runs_is_applied_when_one_starts(dsn, conn, tmp_path):
    register_playbook(conn, PLAYBOOK)
    ids = start_executions(conn, 3, "late")
    time.sleep(0.2)
    with FakeWorkers(dsn):
        engine = start_daemon("engine", dsn, tmp_path)
        try:
            wait_until(lambda: completed_count(dsn) == 3, timeout=60)
        finally:
            terminate(engine)
    assert_every_execution_exact(conn, ids)
