"""A postgres step on the orchestrator's own database, caught by a PostgreSQL restart.

The full kill run found it: the `record` step was running when PostgreSQL stopped (fast
mode); the worker reported the lost connection as the step's `sql` error, and the
execution failed. Invariant 4 says a PostgreSQL restart is survived: the statement was
rolled back with its report (they share one transaction), so the command can simply run
again. Fixed: the worker hands such a command back instead of reporting it; this is the
regression test.
"""

from __future__ import annotations

import time

import pytest

from noetl_pg.store.db import connect
from tests.chaos.support import wait_for
from tests.support.catalog import register_playbook
from tests.support.processes import start_daemon, terminate

pytestmark = pytest.mark.chaos

PLAYBOOK = """
apiVersion: noetl.io/v2
kind: Playbook
metadata: {name: slow_sql, path: chaos/slow_sql}
workflow:
  - step: start
    tool:
      kind: postgres
      query: "SELECT pg_sleep(2) IS NULL AS slept"
    next: end
  - step: end
    args: {slept: "{{ start.rows[0].slept }}"}
    tool: {kind: noop}
"""


def _status(dsn: str) -> dict | None:
    try:
        with connect(dsn, autocommit=True) as conn:
            return conn.execute(
                "SELECT status, result, error FROM noetl.execution WHERE execution_id = 'slow-1'"
            ).fetchone()
    except Exception:
        return None


@pytest.mark.parametrize("mode", ["fast", "immediate"])
def test_a_postgres_step_caught_by_a_postgresql_restart_runs_again(
    chaos_dsn, chaos_conn, pg_server, tmp_path, mode
):
    register_playbook(chaos_conn, PLAYBOOK)
    processes = [
        start_daemon("engine", chaos_dsn, tmp_path, "--safety-interval", "1"),
        start_daemon(
            "worker", chaos_dsn, tmp_path, "--lease-seconds", "3", "--safety-interval", "1"
        ),
    ]
    try:
        chaos_conn.execute(
            "INSERT INTO noetl.event (execution_id, event_type, payload)"
            " VALUES ('slow-1', 'workflow.start', '{\"path\": \"chaos/slow_sql\"}')"
        )
        wait_for(
            lambda: (
                chaos_conn.execute(
                    "SELECT 1 FROM pg_stat_activity WHERE query LIKE 'SELECT pg_sleep(2)%%'"
                    " AND state = 'active'"
                ).fetchone()
                is not None
            ),
            "the step's statement runs",
        )
        pg_server.stop(mode)
        time.sleep(1.0)
        pg_server.start()
        wait_for(
            lambda: (
                (s := _status(chaos_dsn)) is not None and s["status"] in ("completed", "failed")
            ),
            "the execution finished",
        )
        assert all(p.poll() is None for p in processes), "a daemon died"
        state = _status(chaos_dsn)
        assert (state["status"], state["result"]) == ("completed", {"slept": False}), state
    finally:
        for process in processes:
            terminate(process)
