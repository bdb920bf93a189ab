"""Tests play the worker by hand: lease pending commands and report them, fenced, by SQL."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from psycopg.types.json import Jsonb

from noetl_pg.store.db import connect
from noetl_pg.store.queries import query

WORKER_ID = "test-worker"

LEASE_SQL = """
UPDATE noetl.queue SET status = 'leased', assigned_worker_id = %(worker)s,
       started_at = now(), lease_expires_at = now() + interval '5 minutes'
 WHERE queue_id IN (SELECT queue_id FROM noetl.queue WHERE status = 'pending'
                     ORDER BY queue_id LIMIT %(n)s FOR UPDATE SKIP LOCKED)
RETURNING queue_id, execution_id, step, tool_kind, tool_config, args, attempt, run_key
"""


def lease(dsn: str, n: int = 1000) -> list[dict[str, Any]]:
    with connect(dsn, autocommit=True) as conn:
        return conn.execute(LEASE_SQL, {"worker": WORKER_ID, "n": n}).fetchall()


def report(dsn: str, command: dict[str, Any], response: Any = None, error: Any = None) -> bool:
    payload = {"error": error} if error is not None else {"response": response}
    with connect(dsn, autocommit=True) as conn:
        row = conn.execute(
            query("report_command"),
            {
                "queue_id": command["queue_id"],
                "worker_id": WORKER_ID,
                "attempt": command["attempt"],
                "queue_status": "failed" if error is not None else "done",
                "event_status": "error" if error is not None else "ok",
                "last_error": None,
                "payload": Jsonb(payload),
            },
        ).fetchone()
    return row is not None


def echo(command: dict[str, Any]) -> tuple[Any, Any]:
    return command["args"], None


def answer_all(dsn: str, responder: Callable[[dict[str, Any]], tuple[Any, Any]] = echo) -> int:
    """Lease every pending command and report it; the number answered."""
    commands = lease(dsn)
    for command in commands:
        response, error = responder(command)
        report(dsn, command, response, error)
    return len(commands)
