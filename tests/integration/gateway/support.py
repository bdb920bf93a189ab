"""Helpers of the gateway tests: a real uvicorn server, sample playbooks, a fake engine."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import httpx
import uvicorn

from noetl_pg.store.db import connect

STARTUP_DEADLINE = 30.0  # seconds; a hang guard, not a performance check

HELLO = """\
apiVersion: noetl.io/v2
kind: Playbook
metadata:
  name: hello
  path: examples/hello
workload:
  greeting: hi
workflow:
  - step: start
    tool: {kind: noop}
    next: end
  - step: end
    tool: {kind: noop}
"""


@contextmanager
def serve(app: Any) -> Iterator[str]:
    """Run `app` with uvicorn on a socket bound here (no port race); yield its base URL."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    config = uvicorn.Config(app, log_level="warning", lifespan="on")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + STARTUP_DEADLINE
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("the gateway did not start")
        time.sleep(0.01)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=STARTUP_DEADLINE)
        sock.close()


def register(api: httpx.Client, text: str = HELLO) -> dict[str, Any]:
    response = api.post("/api/v2/engine/register-playbook", json={"playbook_yaml": text})
    assert response.status_code in (200, 201), response.text
    return response.json()


def count(conn: Any, table: str) -> int:
    return conn.execute(f"SELECT count(*) AS n FROM noetl.{table}").fetchone()["n"]


@contextmanager
def fake_engine(dsn: str, *, commands: int = 1, error: str | None = None) -> Iterator[list[int]]:
    """A stand-in engine in a thread: marks each unprocessed event applied, as the engine
    would (processed_at, commands_generated, error). Yields the ids it applied."""
    applied: list[int] = []
    stop = threading.Event()

    def run() -> None:
        with connect(dsn, autocommit=True) as conn:
            while not stop.is_set():
                rows = conn.execute(
                    "UPDATE noetl.event SET processed_at = now(), processed_by = 'fake',"
                    " commands_generated = %s, error = %s"
                    " WHERE processed_at IS NULL RETURNING event_id",
                    [commands, error],
                ).fetchall()
                applied.extend(row["event_id"] for row in rows)
                stop.wait(0.01)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    try:
        yield applied
    finally:
        stop.set()
        thread.join()


def assert_error(response, status: int, code: str | None = None) -> dict:
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) >= {"error"}
    assert set(body["error"]) == {"code", "message", "details"}
    assert body["error"]["message"]
    if code:
        assert body["error"]["code"] == code
    return body["error"]
