"""Drain with real processes: `noetl-pg drain on` lets a running execution (and its
sub-playbook) finish, refuses new starts by HTTP (503 `draining`) and by SQL (the event
is recorded refused with that reason), holds schedules, and `drain off` undoes it all."""

from __future__ import annotations

import subprocess
import sys

import httpx

from tests.chaos.support import running_cluster
from tests.support.catalog import register_playbook
from tests.support.processes import wait_until

CHILD = """
apiVersion: noetl.io/v2
kind: Playbook
metadata: {name: drain_child, path: tests/drain_child}
workflow:
  - step: start
    tool: {kind: noop}
"""
LONG = """
apiVersion: noetl.io/v2
kind: Playbook
metadata: {name: drain_long, path: tests/drain_long}
workflow:
  - step: start
    tool: {kind: wait, signal: go}
    next: child
  - step: child
    tool: {kind: playbook, path: tests/drain_child}
"""
TICKER = """
apiVersion: noetl.io/v2
kind: Playbook
metadata: {name: drain_ticker, path: tests/drain_ticker}
schedules:
  - {name: each-second, every: 1, overlap: allow}
workflow:
  - step: start
    tool: {kind: noop}
"""


def drain(dsn: str, action: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "noetl_pg.cli", "drain", action],
        env={"NOETL_DSN": dsn, "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
    )


def fires(conn) -> int:
    return conn.execute(
        "SELECT fires FROM noetl.schedule WHERE path = 'tests/drain_ticker'"
    ).fetchone()["fires"]


def status(conn, execution_id: str) -> str | None:
    row = conn.execute(
        "SELECT status FROM noetl.execution WHERE execution_id = %s", [execution_id]
    ).fetchone()
    return row and row["status"]


def test_drain_refuses_new_work_and_lets_running_work_finish(dsn, conn, tmp_path):
    for text in (CHILD, LONG, TICKER):
        register_playbook(conn, text)
    with running_cluster(dsn, tmp_path, engines=1, workers=1, safety_interval=0.5) as cluster:
        api = httpx.Client(base_url=cluster.gateway_url, timeout=30)
        start = {"name": "workflow.start", "path": "tests/drain_long", "execution_id": "exec-l"}
        assert api.post("/api/v2/events", json=start, params={"wait": 0}).status_code == 202
        wait_until(lambda: fires(conn) >= 1, "the schedule to fire")
        wait_until(
            lambda: conn.execute("SELECT 1 FROM noetl.wait WHERE woken_at IS NULL").fetchone(),
            "the long execution to wait",
        )
        on = drain(dsn, "on")
        assert on.returncode == 0 and on.stdout.startswith("draining"), on
        assert api.get("/api/v2/health").json()["draining"] is True

        refused = api.post("/api/v2/events", json={**start, "execution_id": "exec-h"})
        assert (refused.status_code, refused.json()["error"]["code"]) == (503, "draining")
        conn.execute(
            "INSERT INTO noetl.event (execution_id, event_type, payload) VALUES"
            " ('exec-sql', 'workflow.start', '{\"path\": \"tests/drain_long\"}')"
        )
        row = wait_until(
            lambda: conn.execute(
                "SELECT status, error FROM noetl.event WHERE execution_id = 'exec-sql'"
                " AND processed_at IS NOT NULL"
            ).fetchone(),
            "the SQL start to be judged",
        )
        assert row["status"] == "rejected" and "draining" in row["error"]
        assert status(conn, "exec-sql") is None

        # The running execution finishes, sub-playbook included, while draining.
        held = fires(conn)
        signal = api.post("/api/v2/executions/exec-l/signals", json={"name": "go"})
        assert signal.status_code == 202, signal.text
        wait_until(lambda: status(conn, "exec-l") == "completed", "the running one completes")
        conn.execute("SELECT pg_sleep(2)")  # two ticks' time: a draining engine fires none
        assert fires(conn) == held
        shown = drain(dsn, "status")
        assert shown.returncode == 0 and shown.stdout.startswith("draining"), shown
        assert "0 execution(s) unfinished" in shown.stdout

        off = drain(dsn, "off")
        assert off.returncode == 0 and off.stdout.startswith("accepting"), off
        wait_until(lambda: fires(conn) > held, "the schedule fires again")
        again = api.post("/api/v2/events", json={**start, "execution_id": "exec-h"})
        assert again.status_code in (200, 202), again.text
    bad = drain(dsn, "maybe")
    assert bad.returncode == 2 and "invalid choice" in bad.stderr
