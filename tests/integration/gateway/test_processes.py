"""Real processes: `noetl-gateway` as a command, and the seed flow with a real engine
(and worker) — register, start, processed with commands, then the execution finishes."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager

import httpx

from tests.integration.gateway.support import HELLO
from tests.support.processes import free_port, start_daemon, stop, terminate, wait_until

DEADLINE = 60.0  # seconds; a hang guard, not a performance check


@contextmanager
def process(module: str, dsn: str, *args: str, **env: str) -> Iterator[subprocess.Popen[str]]:
    proc = subprocess.Popen(
        [sys.executable, "-m", module, *args],
        env={**os.environ, "NOETL_DSN": dsn, "NOETL_LOG_LEVEL": "WARNING", **env},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        yield proc
    finally:
        stop(proc, DEADLINE)
        if proc.stdout:
            proc.stdout.close()


@contextmanager
def gateway_process(dsn: str, port: int | None = None, **env: str) -> Iterator[str]:
    with gateway_and_process(dsn, port, **env) as (url, _):
        yield url


@contextmanager
def gateway_and_process(
    dsn: str, port: int | None = None, **env: str
) -> Iterator[tuple[str, subprocess.Popen[str]]]:
    """A real gateway, once healthy: its URL and its process."""
    port = port or free_port()
    with process("noetl_pg.gateway.server", dsn, "--port", str(port), **env) as proc:
        url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + DEADLINE
        while True:
            assert proc.poll() is None, proc.stdout.read() if proc.stdout else ""
            try:
                if httpx.get(f"{url}/api/v2/health", timeout=5).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline, "noetl-gateway did not become healthy"
            time.sleep(0.05)
        yield url, proc


def wait_for_status(api: httpx.Client, execution_id: str, statuses: set[str]) -> dict:
    deadline = time.monotonic() + DEADLINE
    while True:
        state = api.get(f"/api/v2/executions/{execution_id}").json()
        if state.get("status") in statuses:
            return state
        assert time.monotonic() < deadline, f"execution stuck: {state}"
        time.sleep(0.05)


def test_noetl_gateway_command_serves_with_a_token(dsn):
    with gateway_process(dsn, NOETL_API_TOKEN="t0k") as url:
        assert httpx.get(f"{url}/api/v2/health").status_code == 200
        assert httpx.get(f"{url}/api/v2/playbooks").status_code == 401
        authorized = httpx.get(f"{url}/api/v2/playbooks", headers={"Authorization": "Bearer t0k"})
        assert authorized.status_code == 200


def test_noetl_gateway_help_names_its_options():
    result = subprocess.run(
        [sys.executable, "-m", "noetl_pg.gateway.server", "--help"],
        capture_output=True,
        text=True,
        check=True,
    )
    for option in ("--host", "--port", "NOETL_DSN", "NOETL_API_TOKEN"):
        assert option in result.stdout


def test_seed_flow_register_start_processed_with_a_real_engine(dsn):
    with (
        gateway_process(dsn) as url,
        process("noetl_pg.engine.daemon", dsn),
        httpx.Client(base_url=url, timeout=90) as api,
    ):
        registered = api.post("/api/v2/engine/register-playbook", json={"playbook_yaml": HELLO})
        assert registered.status_code == 201, registered.text
        assert registered.json()["status"] == "registered"
        started = api.post(
            "/api/v2/events",
            params={"wait": 60},
            json={
                "execution_id": "exec-123",
                "name": "workflow.start",
                "payload": {"path": "examples/hello"},
            },
        )
        assert started.status_code == 200, started.text
        body = started.json()
        assert body["status"] == "processed"
        assert body["execution_id"] == "exec-123"
        assert body["commands_generated"] >= 1
        assert "error" not in body
        state = api.get("/api/v2/executions/exec-123").json()
        assert state["status"] == "running"
        assert state["current_steps"] == ["start"]

        cancelled = api.post(
            "/api/v2/executions/exec-123/cancel", params={"wait": 60}, json={"reason": "test"}
        )
        assert cancelled.status_code == 200, cancelled.text
        assert cancelled.json()["status"] == "processed"
        assert wait_for_status(api, "exec-123", {"cancelled"})["status"] == "cancelled"
        events = api.get("/api/v2/executions/exec-123/events").json()["events"]
        assert "workflow.cancel" in [e["name"] for e in events]


def test_an_execution_started_over_http_completes_with_engine_and_worker(dsn):
    with (
        gateway_process(dsn) as url,
        process("noetl_pg.engine.daemon", dsn),
        process("noetl_pg.worker.daemon", dsn),
        httpx.Client(base_url=url, timeout=90) as api,
    ):
        api.post("/api/v2/engine/register-playbook", json={"playbook_yaml": HELLO})
        started = api.post(
            "/api/v2/events",
            params={"wait": 60},
            json={"name": "workflow.start", "path": "examples/hello", "workload": {"n": 7}},
        )
        assert started.status_code == 200, started.text
        execution_id = started.json()["execution_id"]
        state = wait_for_status(api, execution_id, {"completed", "failed", "cancelled"})
        assert state["status"] == "completed", state
        assert set(state["step_results"]) >= {"start", "end"}


def test_gateway_stops_on_sigterm_with_exit_code_zero(dsn, tmp_path):
    port = free_port()
    proc = start_daemon("gateway", dsn, tmp_path, "--port", str(port))
    try:
        wait_until(lambda: _healthy(f"http://127.0.0.1:{port}"), timeout=DEADLINE)
    finally:
        code = terminate(proc)
    assert code == 0


def _healthy(url: str) -> bool:
    try:
        return httpx.get(f"{url}/api/v2/health", timeout=2).status_code == 200
    except httpx.TransportError:
        return False
