"""Remote workers: `noetl-worker --gateway URL` with a worker token and no DSN, against a
real gateway and a real engine. Every tool kind behaves as on SQL; a killed remote
worker's command is run again elsewhere after its lease; a gateway restarted under a
running remote worker loses nothing."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from tests.integration.gateway.test_processes import (
    gateway_and_process,
    gateway_process,
    process,
)
from tests.integration.gateway.test_tokens import make_token
from tests.support.catalog import register_playbook
from tests.support.processes import free_port, kill, stop, wait_until

ADMIN = "adm1n"

CHILD = """
apiVersion: noetl.io/v2
kind: Playbook
metadata: {name: remote-child, path: tests/remote-child}
workload: {x: 0}
workflow:
  - step: start
    tool: {kind: python, code: "def main(x): return {'y': x * 10}"}
    args: {x: "{{ workload.x }}"}
"""

EVERY_KIND = """
apiVersion: noetl.io/v2
kind: Playbook
metadata: {name: remote, path: tests/remote}
workload: {url: "http://127.0.0.1:1"}
workflow:
  - step: start
    tool: {kind: http, endpoint: "{{ workload.url }}/json"}
    next: compute
  - step: compute
    tool: {kind: python, code: "def main(n): return {'doubled': n * 2}"}
    args: {n: "{{ start.data.n }}"}
    next: query
  - step: query
    tool:
      kind: postgres
      connection: target
      query: "SELECT %(v)s::int + 1 AS v"
      params: {v: "{{ compute.doubled }}"}
    next: child
  - step: child
    tool: {kind: playbook, path: tests/remote-child, args: {x: "{{ query.rows[0].v }}"}}
    next: end
  - step: end
    tool: {kind: noop}
    args: {got: "{{ child.y }}"}
"""

SLOW = """
apiVersion: noetl.io/v2
kind: Playbook
metadata: {name: slow, path: tests/slow}
workflow:
  - step: start
    tool:
      kind: python
      code: |
        import time
        def main():
            time.sleep(3)
            return {"slept": True}
"""


@contextmanager
def remote_worker(
    url: str, token: str, worker_id: str, tmp_path: Path, *args: str, **env: str
) -> Iterator[subprocess.Popen[bytes]]:
    """A worker whose environment holds no DSN: only the gateway's URL and a token."""
    environment = {k: v for k, v in os.environ.items() if not k.startswith("NOETL_")}
    environment.update(
        NOETL_GATEWAY_URL=url,
        NOETL_API_TOKEN=token,
        NOETL_HOME=str(tmp_path / "remote-home"),  # no embedded server to fall back on
        NOETL_LOG_LEVEL="INFO",
        **env,
    )
    log = open(tmp_path / f"{worker_id}.log", "wb")  # noqa: SIM115
    proc = subprocess.Popen(
        [sys.executable, "-m", "noetl_pg.worker.daemon", "--worker-id", worker_id, *args],
        env=environment,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    log.close()
    try:
        yield proc
    finally:
        stop(proc)


def _start(conn, execution_id: str, path: str, workload: dict | None = None) -> None:
    conn.execute(
        "INSERT INTO noetl.event (execution_id, event_type, payload) VALUES"
        " (%s, 'workflow.start', jsonb_build_object('path', %s::text, 'workload', %s::jsonb))",
        [execution_id, path, json.dumps(workload or {})],
    )


def _status(conn, execution_id: str) -> str | None:
    row = conn.execute(
        "SELECT status FROM noetl.execution WHERE execution_id = %s", [execution_id]
    ).fetchone()
    return row["status"] if row else None


def _finished(conn, execution_id: str) -> str | None:
    status = _status(conn, execution_id)
    return status if status in ("completed", "failed", "cancelled") else None


@pytest.fixture
def worker_token(dsn: str) -> str:
    return make_token(dsn, "worker")


def test_every_tool_kind_runs_on_a_remote_worker_with_no_dsn(
    dsn, conn, tmp_path, http_server, worker_token
):
    register_playbook(conn, CHILD)
    register_playbook(conn, EVERY_KIND)
    with (
        gateway_process(dsn, NOETL_API_TOKEN=ADMIN) as url,
        process("noetl_pg.engine.daemon", dsn, "--safety-interval", "1"),
        remote_worker(url, worker_token, "remote-1", tmp_path, NOETL_CONNECTION_TARGET=dsn),
    ):
        _start(conn, "exec-remote", "tests/remote", {"url": http_server})
        status = wait_until(lambda: _finished(conn, "exec-remote"), "the execution finishes")
        assert status == "completed", (tmp_path / "remote-1.log").read_text()[-3000:]

    rows = conn.execute(
        "SELECT execution_id, step, tool_kind, status, assigned_worker_id, args"
        " FROM noetl.queue ORDER BY queue_id"
    ).fetchall()
    kinds = {row["tool_kind"] for row in rows}
    assert {"http", "python", "postgres", "playbook", "noop"} <= kinds
    assert {row["assigned_worker_id"] for row in rows} == {"remote-1"}
    end = next(row for row in rows if row["step"] == "end")
    assert end["args"] == {"got": 30}  # n=1 doubled, plus one, times ten in the child


def test_a_postgres_step_without_a_connection_fails_clearly_on_a_remote_worker(
    dsn, conn, tmp_path, worker_token
):
    register_playbook(
        conn,
        """
apiVersion: noetl.io/v2
kind: Playbook
metadata: {name: own-db, path: tests/own-db}
workflow:
  - step: start
    tool: {kind: postgres, query: "SELECT 1"}
""",
    )
    with (
        gateway_process(dsn, NOETL_API_TOKEN=ADMIN) as url,
        process("noetl_pg.engine.daemon", dsn, "--safety-interval", "1"),
        remote_worker(url, worker_token, "remote-1", tmp_path),
    ):
        _start(conn, "exec-own", "tests/own-db")
        assert wait_until(lambda: _finished(conn, "exec-own")) == "failed"
    error = conn.execute(
        "SELECT payload->'error' AS error FROM noetl.event"
        " WHERE execution_id = 'exec-own' AND event_type = 'call.done'"
    ).fetchone()["error"]
    assert error["kind"] == "config"
    assert "no database of its own" in error["message"]
    assert "connection" in error["message"]


def test_a_killed_remote_worker_s_command_runs_again_elsewhere(dsn, conn, tmp_path, worker_token):
    register_playbook(conn, SLOW)
    with (
        gateway_process(dsn, NOETL_API_TOKEN=ADMIN) as url,
        process("noetl_pg.engine.daemon", dsn, "--safety-interval", "1"),
    ):
        with remote_worker(url, worker_token, "remote-a", tmp_path, "--lease-seconds", "2") as a:
            _start(conn, "exec-slow", "tests/slow")
            wait_until(
                lambda: conn.execute(
                    "SELECT 1 FROM noetl.queue WHERE status = 'leased'"
                    " AND assigned_worker_id = 'remote-a'"
                ).fetchone(),
                "remote-a leases the command",
            )
            kill(a)
        with remote_worker(url, worker_token, "remote-b", tmp_path):
            assert wait_until(lambda: _finished(conn, "exec-slow")) == "completed"
    row = conn.execute("SELECT attempt, assigned_worker_id, status FROM noetl.queue").fetchone()
    assert row["assigned_worker_id"] == "remote-b"
    assert row["attempt"] == 2  # the first attempt's lease expired and was reclaimed
    done = conn.execute(
        "SELECT count(*) AS n FROM noetl.event WHERE event_type = 'call.done'"
    ).fetchone()
    assert done["n"] == 1  # the killed attempt reported nothing


def test_a_gateway_restarted_under_a_remote_worker_loses_nothing(dsn, conn, tmp_path, worker_token):
    register_playbook(conn, CHILD)
    port = free_port()
    with (
        process("noetl_pg.engine.daemon", dsn, "--safety-interval", "1"),
        gateway_and_process(dsn, port, NOETL_API_TOKEN=ADMIN) as (url, gateway),
        remote_worker(url, worker_token, "remote-1", tmp_path, "--poll-interval", "1"),
    ):
        _start(conn, "exec-before", "tests/remote-child", {"x": 1})
        assert wait_until(lambda: _finished(conn, "exec-before")) == "completed"
        kill(gateway)
        time.sleep(1.0)  # the worker's polls now fail: it keeps retrying
        _start(conn, "exec-during", "tests/remote-child", {"x": 2})
        with gateway_process(dsn, port, NOETL_API_TOKEN=ADMIN):
            back = time.monotonic()
            assert wait_until(lambda: _finished(conn, "exec-during")) == "completed"
            print(f"remote worker continued {time.monotonic() - back:.2f}s after the restart")
        _start(conn, "exec-after", "tests/remote-child", {"x": 3})
        with gateway_process(dsn, port, NOETL_API_TOKEN=ADMIN):
            assert wait_until(lambda: _finished(conn, "exec-after")) == "completed"
    counts = conn.execute(
        "SELECT count(*) FILTER (WHERE event_type = 'call.done') AS done,"
        " count(DISTINCT execution_id) AS executions FROM noetl.event"
    ).fetchone()
    assert counts == {"done": 3, "executions": 3}


def test_a_worker_with_a_token_that_may_not_work_stops_with_the_reason(dsn, tmp_path):
    reader = make_token(dsn, "reader")
    with (
        gateway_process(dsn, NOETL_API_TOKEN=ADMIN) as url,
        remote_worker(url, reader, "remote-r", tmp_path) as worker,
    ):
        assert worker.wait(timeout=60) == 1
    log = (tmp_path / "remote-r.log").read_text()
    assert "refused this worker (403)" in log
    assert "a reader token cannot work" in log
