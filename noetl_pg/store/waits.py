"""Durable waits and signals: park a `wait` command, wake it, accept a client's signal."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from psycopg import AsyncConnection
from psycopg.types.json import Jsonb

from noetl_pg.protocol import (
    TERMINAL,
    CallStatus,
    CommandStatus,
    ErrorKind,
    EventName,
    Lease,
)
from noetl_pg.store.errors import ExecutionFinished, ExecutionNotFound
from noetl_pg.store.queries import query


async def park_wait(
    conn: AsyncConnection,
    lease: Lease,
    *,
    signal: str | None,
    after: float | None,
    until: datetime | None,
) -> bool:
    """Park the leased command as 'waiting' with its wake row; False if the lease was
    lost (nothing changed) or it was parked already."""
    cur = await conn.execute(
        query("park_wait"),
        {
            "queue_id": lease.queue_id,
            "worker_id": lease.worker_id,
            "attempt": lease.attempt,
            "signal": signal,
            "after": after,
            "until": until,
            "seconds": after if signal is None else None,
        },
    )
    return await cur.fetchone() is not None


async def wake_waits(conn: AsyncConnection, limit: int) -> int:
    """Wake up to `limit` waits whose signal arrived or whose time passed; how many."""
    cur = await conn.execute(
        query("wake_waits"),
        {
            "limit": limit,
            "signal_event": EventName.SIGNAL,
            "call_done": EventName.CALL_DONE,
            "waiting": CommandStatus.WAITING,
            "done": CommandStatus.DONE,
            "failed": CommandStatus.FAILED,
            "ok": CallStatus.OK,
            "error": CallStatus.ERROR,
            "timeout": ErrorKind.TIMEOUT,
            "terminal": sorted(TERMINAL),
        },
    )
    return len(await cur.fetchall())


async def send_signal(
    conn: AsyncConnection, execution_id: str, name: str, data: dict[str, Any]
) -> int:
    """Append a `signal` event (payload `{...data, name}`) for an execution that has not
    finished; its event id. Refused (ExecutionNotFound, ExecutionFinished) otherwise."""
    cur = await conn.execute(query("execution_status"), {"execution_id": execution_id})
    row = await cur.fetchone()
    if row is None:
        raise ExecutionNotFound(execution_id)
    if row["status"] in TERMINAL:
        raise ExecutionFinished(execution_id, row["status"])
    cur = await conn.execute(
        query("insert_client_event"),
        {
            "execution_id": execution_id,
            "name": EventName.SIGNAL,
            "step": None,
            "payload": Jsonb({**data, "name": name}),
        },
    )
    found = await cur.fetchone()
    assert found is not None
    return found["event_id"]
