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


ROUTED_TIMEOUT = """
apiVersion: noetl.io/v2
kind: Playbook
metadata: {name: routed, path: tests/routed}
workflow:
  - step: start
    timeout: 1
    tool: {kind: noop}
    case:
      - when: "{{ event.name == 'step.exit' and error.kind == 'timeout' }}"
        then: {next: [{step: fallback}]}
  - step: fallback
    tool: {kind: noop}
"""


def test_a_timed_out_step_s_pending_command_is_cancelled_while_the_run_goes_on(dsn, conn, tmp_path):
    """No worker runs: the step's command is pending when its timeout fires. A rule routes
    the timeout, so the execution goes on; the timed-out command must not stay pending
    (a worker would otherwise run a call whose result nobody wants)."""
    register_playbook(conn, ROUTED_TIMEOUT)
    process = engine(dsn, tmp_path)
    try:
        conn.execute(
            "INSERT INTO noetl.event (execution_id, event_type, payload)"
            " VALUES ('exec-r', 'workflow.start', jsonb_build_object('path', 'tests/routed'))"
        )
        rows = wait_until(
            lambda: (
                (
                    found := conn.execute(
                        "SELECT step, status FROM noetl.queue WHERE execution_id = 'exec-r'"
                        " ORDER BY queue_id"
                    ).fetchall()
                )
                and len(found) == 2
                and found
            ),
            "the fallback's command",
        )
    finally:
        assert terminate(process) == 0
    assert [(r["step"], r["status"]) for r in rows] == [
        ("start", "cancelled"),
        ("fallback", "pending"),
    ]
    status = conn.execute("SELECT status FROM noetl.execution WHERE execution_id = 'exec-r'")
    assert status.fetchone()["status"] == "running"
