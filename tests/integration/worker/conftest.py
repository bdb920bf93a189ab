"""Worker test helpers: a real local HTTP server, commands in a real queue, real workers."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import pytest
from psycopg import Connection
from psycopg.types.json import Jsonb

from noetl_pg.store.db import connect
from noetl_pg.worker.daemon import Worker

DEADLINE = 30.0  # generous: only a broken worker ever gets near it


class _Handler(BaseHTTPRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:  # quiet test output
        pass

    def _send(self, status: int, body: bytes, content_type: str) -> None:
        try:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client gave up (a timeout test)

    def _json(self, status: int, value: Any) -> None:
        self._send(status, json.dumps(value).encode(), "application/json")

    def _handle(self) -> None:
        url = urlsplit(self.path)
        query = dict(parse_qsl(url.query))
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length).decode() if length else ""
        if url.path == "/json":
            self._json(200, {"hello": "world", "n": 1})
        elif url.path == "/text":
            self._send(200, b"plain text", "text/plain")
        elif url.path == "/echo":
            self._json(
                200,
                {
                    "method": self.command,
                    "query": query,
                    "headers": {k.lower(): v for k, v in self.headers.items()},
                    "body": body,
                },
            )
        elif url.path.startswith("/status/"):
            self._json(int(url.path.rsplit("/", 1)[1]), {"error": "nope"})
        elif url.path == "/slow":
            time.sleep(float(query.get("seconds", "5")))
            self._json(200, {"slept": True})
        elif url.path == "/big":
            self._send(200, b"x" * int(query["bytes"]), "text/plain")
        else:
            self._json(404, {"error": f"no route {url.path}"})

    do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = _handle


@pytest.fixture(scope="session")
def http_server() -> Iterator[str]:
    """The base URL of a real HTTP server on 127.0.0.1."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def insert_command(
    conn: Connection,
    kind: str,
    config: dict[str, Any] | None = None,
    args: dict[str, Any] | None = None,
    **columns: Any,
) -> int:
    """Enqueue one command as the engine would; its queue_id."""
    values = {
        "execution_id": "exec-test",
        "step": "step1",
        "tool_kind": kind,
        "tool_config": Jsonb(config or {}),
        "args": Jsonb(args or {}),
        "context": Jsonb({}),
        "run_key": "step1#1",
        **columns,
    }
    names = ", ".join(values)
    marks = ", ".join(f"%({name})s" for name in values)
    row = conn.execute(
        f"INSERT INTO noetl.queue ({names}) VALUES ({marks}) RETURNING queue_id", values
    ).fetchone()
    return row["queue_id"]


def unfinished(conn: Connection) -> int:
    row = conn.execute(
        "SELECT count(*) AS n FROM noetl.queue WHERE status IN ('pending', 'leased')"
    ).fetchone()
    return row["n"]


def call_done(conn: Connection, queue_id: int) -> list[dict[str, Any]]:
    return conn.execute(
        "SELECT event_id, execution_id, node_name, status, payload, queue_id FROM noetl.event"
        " WHERE event_type = 'call.done' AND queue_id = %s ORDER BY event_id",
        [queue_id],
    ).fetchall()


def run_worker_until(
    dsn: str, condition: Callable[[Connection], Any], **worker_options: Any
) -> Worker:
    """Run a Worker in this process until `condition(conn)` holds, then stop it."""

    async def main() -> Worker:
        worker = Worker(dsn, **{"safety_interval": 1.0, **worker_options})
        task = asyncio.create_task(worker.run())
        end = time.monotonic() + DEADLINE
        with connect(dsn, autocommit=True) as conn:
            while not condition(conn):
                if task.done():
                    task.result()
                    raise AssertionError("the worker stopped on its own")
                if time.monotonic() > end:
                    worker.stop()
                    await task
                    raise AssertionError("timed out waiting for the worker")
                await asyncio.sleep(0.05)
        worker.stop()
        await asyncio.wait_for(task, DEADLINE)
        return worker

    return asyncio.run(main())


def run_commands(dsn: str, *commands: tuple, **worker_options: Any) -> list[dict[str, Any]]:
    """Enqueue (kind, config, args) commands, run a worker until all are finished, and
    return their call.done events in the same order."""
    with connect(dsn, autocommit=True) as conn:
        ids = [insert_command(conn, *command) for command in commands]
    run_worker_until(dsn, lambda c: unfinished(c) == 0, **worker_options)
    with connect(dsn, autocommit=True) as conn:
        events = [call_done(conn, queue_id) for queue_id in ids]
    assert all(len(e) == 1 for e in events), events
    return [e[0] for e in events]


def run_one(dsn: str, kind: str, config: dict | None = None, args: dict | None = None, **kw):
    return run_commands(dsn, (kind, config, args), **kw)[0]


def start_worker_process(dsn: str, log: Path, *options: str, **env: str) -> subprocess.Popen:
    """`noetl-worker` as a real process (logs to `log`, so a full pipe never blocks it)."""
    handle = log.open("ab")
    return subprocess.Popen(
        [sys.executable, "-m", "noetl_pg.worker.daemon", "--safety-interval", "1", *options],
        env={**os.environ, "NOETL_DSN": dsn, **env},
        stdout=handle,
        stderr=subprocess.STDOUT,
    )
