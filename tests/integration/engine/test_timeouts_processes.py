"""Timeouts are rows: a deadline that passes while every daemon is killed (-9) fires when
an engine is back, failing the execution with `kind: timeout`. No worker runs, so the
step's command waits forever: only the deadline can end it."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.support.catalog import register_playbook
from tests.support.processes import kill, start_daemon, terminate, wait_until

WORKTREE = str(Path(__file__).resolve().parents[3])

STEP_TIMEOUT = """
apiVersion: noetl.io/v2
kind: Playbook
metadata: {name: slow_step, path: tests/slow_step}
workflow:
  - step: start
    timeout: 1
    tool: {kind: noop}
"""
PLAYBOOK_TIMEOUT = """
apiVersion: noetl.io/v2
kind: Playbook
metadata: {name: slow_run, path: tests/slow_run}
timeout: 1
workflow:
  - step: start
    tool: {kind: noop}
"""


def engine(dsn: str, log_dir: Path):
    return start_daemon("engine", dsn, log_dir, PYTHONPATH=WORKTREE)


@pytest.mark.parametrize(
    ("text", "path", "failed_step"),
    [(STEP_TIMEOUT, "tests/slow_step", "start"), (PLAYBOOK_TIMEOUT, "tests/slow_run", None)],
)
def test_a_deadline_that_passed_while_the_engine_was_killed_fires_when_it_is_back(
    dsn, conn, tmp_path, text, path, failed_step
):
    register_playbook(conn, text)
    first = engine(dsn, tmp_path)
    try:
        conn.execute(
            "INSERT INTO noetl.event (execution_id, event_type, payload)"
            " VALUES ('exec-t', 'workflow.start', jsonb_build_object('path', %s::text))",
            [path],
        )
        wait_until(
            lambda: conn.execute(
                "SELECT 1 FROM noetl.deadline WHERE execution_id = 'exec-t'"
            ).fetchone(),
            "the deadline row",
        )
    finally:
        kill(first)
    # Every daemon is gone; the deadline passes (read from the database's clock).
    wait_until(
        lambda: conn.execute(
            "SELECT bool_and(fires_at < now()) AS due FROM noetl.deadline"
        ).fetchone()["due"],
        "the deadline to pass",
    )
    status = conn.execute("SELECT status FROM noetl.execution WHERE execution_id = 'exec-t'")
    assert status.fetchone()["status"] == "running"
    second = engine(dsn, tmp_path)
    try:
        row = wait_until(
            lambda: conn.execute(
                "SELECT status, state FROM noetl.execution"
                " WHERE execution_id = 'exec-t' AND status <> 'running'"
            ).fetchone(),
            "the execution to end",
        )
    finally:
        assert terminate(second) == 0
    assert row["status"] == "failed"
    failed = conn.execute(
        "SELECT payload FROM noetl.event WHERE execution_id = 'exec-t'"
        " AND event_type = 'workflow.failed'"
    ).fetchone()["payload"]
    assert [(f["step"], f["kind"]) for f in failed["failures"]] == [(failed_step, "timeout")]
    timeouts = conn.execute(
        "SELECT count(*) AS n, count(processed_at) AS applied FROM noetl.event"
        " WHERE execution_id = 'exec-t' AND event_type = 'timeout'"
    ).fetchone()
    assert (timeouts["n"], timeouts["applied"]) == (1, 1)
    assert conn.execute("SELECT count(*) AS n FROM noetl.deadline").fetchone()["n"] == 0
    leftover = conn.execute(
        "SELECT count(*) AS n FROM noetl.queue WHERE status IN ('pending', 'leased')"
    ).fetchone()
    assert leftover["n"] == 0


def test_two_engines_fire_a_deadline_once(dsn, conn, tmp_path):
    register_playbook(conn, PLAYBOOK_TIMEOUT)
    engines = [engine(dsn, tmp_path) for _ in range(2)]
    try:
        conn.execute(
            "INSERT INTO noetl.event (execution_id, event_type, payload)"
            " SELECT 'exec-' || n, 'workflow.start', jsonb_build_object('path', 'tests/slow_run')"
            " FROM generate_series(1, 20) AS n"
        )
        wait_until(
            lambda: conn.execute(
                "SELECT count(*) = 20 AS done FROM noetl.execution WHERE status = 'failed'"
            ).fetchone()["done"],
            "20 executions timed out",
        )
    finally:
        for process in engines:
            assert terminate(process) == 0
    counts = conn.execute(
        "SELECT count(*) AS n, count(DISTINCT execution_id) AS executions FROM noetl.event"
        " WHERE event_type = 'timeout'"
    ).fetchone()
    assert (counts["n"], counts["executions"]) == (20, 20)
