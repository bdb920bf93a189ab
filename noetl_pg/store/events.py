"""Events written by clients, and what the gateway reads back about them.

The gateway never evaluates rules: it inserts a client's event (or an external worker's
fenced `call.done`), then watches the row until an engine has applied it.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from psycopg import AsyncConnection
from psycopg.types.json import Jsonb

from noetl_pg.store.queries import query


async def _one(conn: AsyncConnection, name: str, params: dict[str, Any]) -> dict[str, Any] | None:
    cursor = await conn.execute(query(name), params)
    return await cursor.fetchone()


async def _all(conn: AsyncConnection, name: str, params: dict[str, Any]) -> list[dict[str, Any]]:
    cursor = await conn.execute(query(name), params)
    return await cursor.fetchall()


async def lock_execution_id(conn: AsyncConnection, execution_id: str) -> None:
    """Hold, until the transaction ends, the gateway's lock on this execution id."""
    await conn.execute(query("lock_execution_id"), {"execution_id": execution_id})


async def execution_started(conn: AsyncConnection, execution_id: str) -> bool:
    row = await _one(conn, "execution_started", {"execution_id": execution_id})
    return bool(row and row["started"])


async def playbook_exists(conn: AsyncConnection, path: str, version: int | None) -> bool:
    row = await _one(conn, "get_playbook_version", {"path": path, "version": version})
    return row is not None


async def insert_client_event(
    conn: AsyncConnection,
    *,
    execution_id: str,
    name: str,
    step: str | None,
    payload: dict[str, Any],
) -> dict[str, Any]:
    """Append a client's event (unprocessed); returns its event_id and execution_id."""
    row = await _one(
        conn,
        "insert_client_event",
        {"execution_id": execution_id, "name": name, "step": step, "payload": Jsonb(payload)},
    )
    assert row is not None  # INSERT ... RETURNING always returns the row
    return row


async def report_call_done(
    conn: AsyncConnection,
    *,
    queue_id: int,
    worker_id: str,
    attempt: int,
    payload: dict[str, Any],
) -> dict[str, Any] | None:
    """The fenced report of an external worker: finish the command and append its
    `call.done`, only if it still holds the lease. None when the lease is not held."""
    error = payload.get("error")
    ok = error is None
    return await _one(
        conn,
        "report_command",
        {  # the statuses the worker's own reports use (store/queue.py)
            "queue_id": queue_id,
            "worker_id": worker_id,
            "attempt": attempt,
            "queue_status": "done" if ok else "failed",
            "event_status": "ok" if ok else "error",
            "last_error": error.get("message") if isinstance(error, dict) else None,
            "payload": Jsonb(payload),
        },
    )


async def describe_command(conn: AsyncConnection, queue_id: int) -> dict[str, Any] | None:
    return await _one(conn, "describe_command", {"queue_id": queue_id})


async def processed_events(
    conn: AsyncConnection, keys: Sequence[tuple[int, str]]
) -> list[dict[str, Any]]:
    """Of these (event_id, execution_id) pairs, the events an engine has applied."""
    return await _all(
        conn,
        "processed_events",
        {
            "event_ids": [event_id for event_id, _ in keys],
            "execution_ids": sorted({execution_id for _, execution_id in keys}),
        },
    )


async def list_execution_events(
    conn: AsyncConnection, execution_id: str, *, after: int, limit: int
) -> list[dict[str, Any]]:
    return await _all(
        conn,
        "list_execution_events",
        {"execution_id": execution_id, "after": after, "limit": limit},
    )


async def claim_idempotency_key(conn: AsyncConnection, key: str, request_hash: str) -> bool:
    """True if this request is the first with `key` (call inside the event's transaction)."""
    params = {"key": key, "request_hash": request_hash}
    return await _one(conn, "claim_idempotency_key", params) is not None


async def save_idempotent_answer(
    conn: AsyncConnection, key: str, response: dict[str, Any], status_code: int
) -> None:
    await conn.execute(
        query("save_idempotent_answer"),
        {"key": key, "response": Jsonb(response), "status_code": status_code},
    )


async def find_idempotent_answer(conn: AsyncConnection, key: str) -> dict[str, Any] | None:
    return await _one(conn, "find_idempotent_answer", {"key": key})


async def database_health(conn: AsyncConnection) -> dict[str, Any]:
    row = await _one(conn, "database_health", {})
    return row or {"schema_ready": False}
