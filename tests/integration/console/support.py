"""Helpers of the console tests: playbooks that pass and fail, and real daemons."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from tests.support.processes import start_daemon, terminate

WORKTREE = str(Path(__file__).resolve().parents[3])

HELLO = """\
apiVersion: noetl.io/v2
kind: Playbook
metadata: {name: hello, path: console/hello}
workload: {n: 2}
workflow:
  - step: start
    tool: {kind: python, code: "def main(n): return {'twice': n * 2}"}
    args: {n: "{{ workload.n }}"}
    next: end
  - step: end
    tool: {kind: noop}
"""

FAILING = """\
apiVersion: noetl.io/v2
kind: Playbook
metadata: {name: failing, path: console/failing}
workflow:
  - step: start
    tool: {kind: noop}
    next: explode
  - step: explode
    tool: {kind: python, code: "def main(): raise ValueError('boom')"}
"""


@contextmanager
def daemons(
    dsn: str, log_dir: Path, *kinds: str, extra: dict[str, list[str]] | None = None
) -> Iterator[None]:
    """Real `noetl-<kind>` processes running this worktree's code (`extra`: more arguments
    of a kind)."""
    env = {"PYTHONPATH": os.pathsep.join([WORKTREE, os.environ.get("PYTHONPATH", "")])}
    started = [
        start_daemon(
            kind, dsn, log_dir, "--safety-interval", "1", *(extra or {}).get(kind, []), **env
        )
        for kind in kinds
    ]
    try:
        yield
    finally:
        for process in started:
            terminate(process)


def start(api: Any, path: str, workload: dict[str, Any] | None = None) -> str:
    """Start `path` over the HTTP API without waiting; its execution id."""
    body = {"name": "workflow.start", "payload": {"path": path, "workload": workload or {}}}
    response = api.post("/api/v2/events?wait=0", json=body)
    assert response.status_code in (200, 202), response.text
    return response.json()["execution_id"]


def status(api: Any, execution_id: str) -> str:
    return api.get(f"/api/v2/executions/{execution_id}").json()["status"]
