"""docs/guide.md's Python snippets run as written against a real gateway, engine and worker
(only the server address is changed to this test's port), and the guide's own start
event, which names no playbook, is refused with a message that says so."""

from __future__ import annotations

import contextlib
import io
import os
import re
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx

from noetl_pg.store.db import connect
from tests.integration.gateway.test_processes import gateway_process, process, wait_for_status

ROOT = Path(__file__).resolve().parents[3]
GUIDE = ROOT / "docs" / "guide.md"


def python_snippets() -> list[str]:
    return re.findall(r"```python\n(.*?)```", GUIDE.read_text(), flags=re.S)


def run_snippet(code: str, url: str, namespace: dict) -> str:
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        exec(compile(code.replace("http://localhost:8000", url), str(GUIDE), "exec"), namespace)
    return printed.getvalue()


@contextlib.contextmanager
def script_process(code: str, url: str, tmp_path: Path) -> Iterator[subprocess.Popen[bytes]]:
    """A snippet that runs until stopped (the worker), as its own program with no DSN."""
    script = tmp_path / "guide_worker.py"
    script.write_text(code.replace("http://localhost:8000", url))
    environment = {k: v for k, v in os.environ.items() if not k.startswith("NOETL_")}
    log = open(tmp_path / "guide_worker.log", "wb")  # noqa: SIM115
    proc = subprocess.Popen([sys.executable, str(script)], env=environment, stdout=log, stderr=log)
    log.close()
    try:
        yield proc
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def test_the_guide_page_snippets_run_against_real_processes(dsn, monkeypatch, tmp_path):
    monkeypatch.chdir(ROOT)
    monkeypatch.setenv("NOETL_DSN", dsn)
    worker, register, start, state = (
        next(s for s in python_snippets() if marker in s)
        for marker in (
            "QueuePollerV2",
            "register-playbook",
            '"workflow.start"',
            "state_store.get_state",
        )
    )
    with (
        gateway_process(dsn) as url,
        process("noetl_pg.engine.daemon", dsn),
        script_process(worker, url, tmp_path) as guide_worker,
        httpx.Client(base_url=url, timeout=60) as api,
    ):
        assert "'status': 'registered'" in run_snippet(register, url, {})
        namespace: dict = {}
        printed = run_snippet(start, url, namespace)
        assert "'status': 'processed'" in printed
        execution_id = namespace["response"].json()["execution_id"]
        wait_for_status(api, execution_id, {"completed"})

        shown = run_snippet(state.replace("exec-123", execution_id), url, {})
        assert "Workflow status: completed" in shown
        assert "Step results: {" in shown and "'start'" in shown

        guides_own = api.post(
            "/api/v2/events",
            json={"execution_id": "exec-123", "name": "workflow.start", "payload": {}},
        )
        assert guides_own.status_code == 422
        assert "path" in guides_own.json()["error"]["message"]

        guide_worker.send_signal(signal.SIGTERM)  # a graceful stop, as noetl-worker's
        assert guide_worker.wait(timeout=60) == 0, (tmp_path / "guide_worker.log").read_text()
    with connect(dsn) as conn:
        ran_by = conn.execute("SELECT DISTINCT assigned_worker_id FROM noetl.queue").fetchall()
    assert ran_by == [
        {"assigned_worker_id": "worker-001"}
    ]  # the guide's worker, over HTTP, ran every command
