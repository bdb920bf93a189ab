"""Deadline rows (`noetl.deadline`): written with the engine's effects, fired by its scan."""

from __future__ import annotations

from typing import Any

from psycopg import AsyncConnection
from psycopg.types.json import Jsonb

from noetl_pg.protocol import TERMINAL, EventName
from noetl_pg.store.queries import query


async def insert_deadlines(conn: AsyncConnection, rows: list[dict[str, Any]]) -> None:
    """`rows`: {execution_id, step, run_id, seconds}, each due `seconds` from now."""
    if rows:
        await conn.execute(query("insert_deadlines"), {"rows": Jsonb(rows)})


async def fire_due_deadlines(conn: AsyncConnection, limit: int) -> int:
    """Turn up to `limit` passed deadlines into `timeout` events; how many were fired."""
    cur = await conn.execute(
        query("fire_due_deadlines"),
        {"limit": limit, "event": EventName.TIMEOUT, "terminal": sorted(TERMINAL)},
    )
    return len(await cur.fetchall())


async def cancel_timed_out_commands(conn: AsyncConnection, rows: list[dict[str, Any]]) -> None:
    """`rows`: {execution_id, run_key} of commands whose step run a timeout ended."""
    if rows:
        await conn.execute(query("cancel_timed_out_commands"), {"rows": Jsonb(rows)})
