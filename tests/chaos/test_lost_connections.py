"""Lost notifications and dropped connections: work goes on.

The LISTEN connections (application_name ending in `-listen`, noetl_pg/store/notifier.py)
of an engine and a worker are terminated with pg_terminate_backend over and over while
executions run: every NOTIFY sent while one is down is lost, so only reconnect catch-up
scans and the safety timer (1 s here) move the work. A second test terminates every
connection of the daemons (their pools too), as a flaky network would.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager

import psycopg
import pytest

from tests.chaos.support import check_event_logs, count_finished, leftover_commands, wait_for
from tests.support.catalog import register_playbook
from tests.support.processes import start_daemon, terminate

pytestmark = pytest.mark.chaos

PLAYBOOK = """
apiVersion: noetl.io/v2
kind: Playbook
metadata: {name: chain, path: chaos/chain}
workload: {n: 0}
workflow:
  - step: start
    args: {v: "{{ workload.n }}"}
    tool: {kind: noop}
    next: double
  - step: double
    args: {v: "{{ start.v }}"}
    tool:
      kind: python
      code: |
        def main(v):
            return {"v": v * 2}
    next: end
  - step: end
    args: {v: "{{ double.v + 1 }}"}
    tool: {kind: noop}
"""
STEPS = {"start": 1, "double": 1, "end": 1}


class Terminator:
    """A thread that terminates the backends matching `where` every `every` seconds."""

    def __init__(self, dsn: str, where: str, every: float) -> None:
        self.dsn = dsn
        self.where = where
        self.every = every
        self.terminated = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True, name="terminator")

    def _run(self) -> None:
        with psycopg.connect(self.dsn, autocommit=True) as conn:
            while True:
                rows = conn.execute(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                    " WHERE datname = current_database() AND pid <> pg_backend_pid()"
                    f" AND ({self.where})"
                ).fetchall()
                self.terminated += sum(1 for (ok,) in rows if ok)
                if self._stop.wait(self.every):
                    return

    def __enter__(self) -> Terminator:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=60)


@contextmanager
def engine_and_worker(dsn: str, log_dir) -> Iterator[list]:
    processes = [
        start_daemon("engine", dsn, log_dir, "--safety-interval", "1"),
        start_daemon("worker", dsn, log_dir, "--lease-seconds", "3", "--safety-interval", "1"),
    ]
    try:
        yield processes
    finally:
        for process in processes:
            terminate(process)


def start_executions(conn, ids: list[str], first: int) -> None:
    with conn.cursor() as cur:
        cur.executemany(
            "INSERT INTO noetl.event (execution_id, event_type, payload) VALUES"
            " (%s, 'workflow.start', jsonb_build_object('path', 'chaos/chain',"
            " 'workload', jsonb_build_object('n', %s::int)))",
            [(eid, n) for n, eid in enumerate(ids, start=first)],
        )


def listeners(conn) -> set[str]:
    return {
        r["application_name"]
        for r in conn.execute(
            "SELECT application_name FROM pg_stat_activity"
            " WHERE datname = current_database() AND application_name LIKE '%%-listen'"
        ).fetchall()
    }


def run_under(chaos_dsn, conn, tmp_path, where: str, every: float, prefix: str) -> int:
    register_playbook(conn, PLAYBOOK)
    ids = [f"{prefix}-{n:03d}" for n in range(30)]
    with engine_and_worker(chaos_dsn, tmp_path) as processes:
        wait_for(lambda: len(listeners(conn)) == 2, "the engine and the worker LISTEN")
        with Terminator(chaos_dsn, where, every) as terminator:
            # Started in three waves, so that events keep arriving while connections die.
            for wave in range(3):
                start_executions(conn, ids[wave * 10 : (wave + 1) * 10], wave * 10)
                wait_for(
                    lambda w=wave: count_finished(chaos_dsn, ids)["completed"] >= (w + 1) * 10,
                    f"wave {wave + 1} completed",
                )
        assert terminator.terminated > 0
        assert all(p.poll() is None for p in processes), "a daemon died"
        # Both come back to LISTEN by themselves.
        wait_for(lambda: len(listeners(conn)) == 2, "the engine and the worker LISTEN again")
    rows = conn.execute(
        "SELECT execution_id, status, result FROM noetl.execution WHERE execution_id = ANY(%s)",
        [ids],
    ).fetchall()
    assert sorted((r["execution_id"], r["status"], r["result"]) for r in rows) == [
        (eid, "completed", {"v": 2 * n + 1}) for n, eid in enumerate(ids)
    ]
    check_event_logs(conn, ids, lambda _eid: STEPS)
    assert leftover_commands(conn) == []
    return terminator.terminated


def test_killed_listen_connections_lose_no_work(chaos_dsn, chaos_conn, tmp_path):
    run_under(
        chaos_dsn,
        chaos_conn,
        tmp_path,
        "application_name LIKE '%%-listen'",
        every=0.1,
        prefix="listen",
    )


def test_every_daemon_connection_dropped_again_and_again_loses_no_work(
    chaos_dsn, chaos_conn, tmp_path
):
    run_under(
        chaos_dsn,
        chaos_conn,
        tmp_path,
        "application_name LIKE 'engine-%%' OR application_name LIKE 'noetl-worker%%'",
        every=5.0,
        prefix="drop",
    )
