"""Durable waits: park a `wait` command and wake it (a signal is written by store/control.py)."""

from __future__ import annotations

from datetime import datetime

from psycopg import AsyncConnection

from noetl_pg.protocol import (
    TERMINAL,
    CallStatus,
    CommandStatus,
    ErrorKind,
    EventName,
    Lease,
)
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
