"""Reading executions: the state users see, and the list of runs."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from psycopg import AsyncConnection, Connection

from noetl_pg.store.queries import query


def fetch_state(conn: Connection, execution_id: str) -> dict[str, Any] | None:
    """The user-visible state of one execution (see `get_execution_state`), or None."""
    return conn.execute(query("get_execution_state"), {"execution_id": execution_id}).fetchone()


async def fetch_state_async(conn: AsyncConnection, execution_id: str) -> dict[str, Any] | None:
    """`fetch_state` on an async connection: the same query."""
    cursor = await conn.execute(query("get_execution_state"), {"execution_id": execution_id})
    return await cursor.fetchone()


async def list_executions(
    conn: AsyncConnection,
    *,
    status: str | None,
    path: str | None,
    limit: int,
    after: tuple[datetime, str] | None,
) -> list[dict[str, Any]]:
    """Executions newest first; `after` is the (created_at, execution_id) of the last one
    of the previous page."""
    cursor = await conn.execute(
        query("list_executions"),
        {
            "status": status,
            "path": path,
            "limit": limit,
            "after_created_at": after[0] if after else None,
            "after_execution_id": after[1] if after else None,
        },
    )
    return await cursor.fetchall()


async def list_commands(conn: AsyncConnection, execution_id: str) -> list[dict[str, Any]]:
    """One execution's rows of `noetl.queue`, oldest first."""
    cursor = await conn.execute(query("list_execution_commands"), {"execution_id": execution_id})
    return await cursor.fetchall()


async def queue_depth(conn: AsyncConnection) -> list[dict[str, Any]]:
    """Commands per status with the age of the oldest, for monitoring."""
    cursor = await conn.execute(query("queue_depth"))
    return await cursor.fetchall()
