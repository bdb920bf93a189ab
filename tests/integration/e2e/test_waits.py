"""Durable waits and signals with real processes: an engine, a worker and a gateway.

A `wait` parks its command ('waiting', no lease, no worker); it resumes on an HTTP
signal, a CLI signal, a plain SQL signal and a signal that came first, times out cleanly,
and a timer survives every daemon being killed (-9): only an engine is needed to wake it.
"""

from __future__ import annotations

import subprocess
import sys

import httpx

from tests.chaos.support import running_cluster
from tests.support.catalog import register_playbook
from tests.support.processes import kill, start_daemon, terminate, wait_until

APPROVAL = """
apiVersion: noetl.io/v2
kind: Playbook
metadata: {name: approval, path: tests/approval}
workflow:
  - step: start
    tool: {kind: noop, asked: true}
    next: approve
  - step: approve
    tool: {kind: wait, signal: approved}
    next: done
  - step: done
    args: {by: "{{ approve.by }}"}
    tool: {kind: noop}
"""
EARLY = """
apiVersion: noetl.io/v2
kind: Playbook
metadata: {name: early, path: tests/early}
workflow:
  - step: start
    tool: {kind: wait, seconds: 1}
    next: approve
  - step: approve
    tool: {kind: wait, signal: approved}
"""
NEVER = """
apiVersion: noetl.io/v2
kind: Playbook
metadata: {name: never, path: tests/never}
workflow:
  - step: start
    tool: {kind: wait, signal: never, timeout: 1}
"""
TIMER = """
apiVersion: noetl.io/v2
kind: Playbook
metadata: {name: timer, path: tests/timer}
workflow:
  - step: start
    tool: {kind: wait, seconds: 1}
"""


def start(conn, execution_id: str, path: str) -> None:
    conn.execute(
        "INSERT INTO noetl.event (execution_id, event_type, payload)"
        " VALUES (%s, 'workflow.start', jsonb_build_object('path', %s::text))",
        [execution_id, path],
    )


def waiting(conn, execution_id: str, step: str):
    return conn.execute(
        "SELECT q.status, q.lease_expires_at, q.assigned_worker_id FROM noetl.wait w"
        " JOIN noetl.queue q USING (queue_id)"
        " WHERE w.execution_id = %s AND w.step = %s AND w.woken_at IS NULL",
        [execution_id, step],
    ).fetchone()


def ended(conn, execution_id: str):
    return conn.execute(
        "SELECT status, result, error FROM noetl.execution"
        " WHERE execution_id = %s AND status IN ('completed', 'failed', 'cancelled')",
        [execution_id],
    ).fetchone()


def test_a_wait_resumes_on_http_cli_sql_and_early_signals(dsn, conn, tmp_path):
    register_playbook(conn, APPROVAL)
    register_playbook(conn, EARLY)
    with running_cluster(dsn, tmp_path, engines=1, workers=1, safety_interval=0.5) as cluster:
        for eid in ("by-http", "by-cli", "by-sql"):
            start(conn, eid, "tests/approval")
        start(conn, "early", "tests/early")
        for eid in ("by-http", "by-cli", "by-sql"):
            parked = wait_until(lambda e=eid: waiting(conn, e, "approve"), f"{eid} waits")
            assert parked["status"] == "waiting" and parked["lease_expires_at"] is None
        answer = httpx.post(
            f"{cluster.gateway_url}/api/v2/executions/by-http/signals",
            json={"name": "approved", "data": {"by": "ann"}},
        )
        assert answer.status_code == 202, answer.text
        cli = subprocess.run(
            [
                sys.executable,
                "-m",
                "noetl_pg.cli",
                "signal",
                "by-cli",
                "approved",
                "--set",
                "by=bob",
            ],
            env={"NOETL_DSN": dsn, "PATH": "/usr/bin:/bin"},
            capture_output=True,
            text=True,
        )
        assert cli.returncode == 0, cli.stderr
        conn.execute(
            "INSERT INTO noetl.event (execution_id, event_type, payload) VALUES"
            ' (\'by-sql\', \'signal\', \'{"name": "approved", "by": "sql"}\'),'
            ' (\'early\', \'signal\', \'{"name": "approved", "by": "early"}\')'
        )
        for eid, by in (("by-http", "ann"), ("by-cli", "bob"), ("by-sql", "sql")):
            row = wait_until(lambda e=eid: ended(conn, e), f"{eid} ends")
            assert (row["status"], row["result"]) == ("completed", {"by": by}), row
        row = wait_until(lambda: ended(conn, "early"), "early ends")
        assert row["status"] == "completed", row
        assert row["result"]["by"] == "early"
        # A signal to an unknown or a finished execution is refused, naming it.
        unknown = httpx.post(
            f"{cluster.gateway_url}/api/v2/executions/nobody/signals", json={"name": "x"}
        )
        assert unknown.status_code == 404 and "nobody" in unknown.text
        finished = httpx.post(
            f"{cluster.gateway_url}/api/v2/executions/by-http/signals", json={"name": "x"}
        )
        assert finished.status_code == 409 and "completed" in finished.text
        nameless = httpx.post(
            f"{cluster.gateway_url}/api/v2/executions/by-http/signals", json={"data": {}}
        )
        assert nameless.status_code == 422 and "name" in nameless.text
        cluster.check_alive()
    # Each signal was consumed by exactly one wait.
    uses = conn.execute(
        "SELECT count(*) AS n, count(DISTINCT signal_event_id) AS d FROM noetl.wait"
        " WHERE signal_event_id IS NOT NULL"
    ).fetchone()
    assert uses["n"] == uses["d"] == 4


def test_a_signal_wait_times_out_with_kind_timeout(dsn, conn, tmp_path):
    register_playbook(conn, NEVER)
    with running_cluster(dsn, tmp_path, engines=1, workers=1, gateway=False, safety_interval=0.5):
        start(conn, "never", "tests/never")
        row = wait_until(lambda: ended(conn, "never"), "the wait times out")
    assert row["status"] == "failed"
    failed = conn.execute(
        "SELECT payload FROM noetl.event WHERE execution_id = 'never'"
        " AND event_type = 'workflow.failed'"
    ).fetchone()["payload"]
    assert [(f["step"], f.get("kind")) for f in failed["failures"]] == [("start", "timeout")]


def test_a_timer_survives_every_daemon_killed_and_needs_no_worker(dsn, conn, tmp_path):
    register_playbook(conn, TIMER)
    engine = start_daemon("engine", dsn, tmp_path)
    worker = start_daemon("worker", dsn, tmp_path)
    try:
        start(conn, "timer", "tests/timer")
        parked = wait_until(lambda: waiting(conn, "timer", "start"), "the timer is parked")
        assert parked["status"] == "waiting" and parked["lease_expires_at"] is None
    finally:
        kill(worker)
        kill(engine)
    wait_until(
        lambda: conn.execute("SELECT bool_and(wake_at < now()) AS due FROM noetl.wait").fetchone()[
            "due"
        ],
        "the timer to pass",
    )
    assert ended(conn, "timer") is None
    engine = start_daemon("engine", dsn, tmp_path)  # no worker this time
    try:
        row = wait_until(lambda: ended(conn, "timer"), "the timer wakes")
    finally:
        assert terminate(engine) == 0
    assert row["status"] == "completed"
    assert row["result"] == {"waited": 1.0}
