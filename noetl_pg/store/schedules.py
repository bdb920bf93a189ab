"""Schedule rows (`noetl.schedule`): the engine's tick scan, and list / pause / resume."""

from __future__ import annotations

import json
from typing import Any

from psycopg import AsyncConnection

from noetl_pg.engine.schedules import next_tick, overlapping, tick_execution_id
from noetl_pg.protocol import EventName
from noetl_pg.store.drain import is_draining
from noetl_pg.store.queries import query


async def fire_due_schedules(conn: AsyncConnection, limit: int) -> int:
    """Handle up to `limit` due schedules in this transaction; how many were handled.
    None while the deployment drains: the due ticks wait, and fire once when it ends."""
    if await is_draining(conn):
        return 0
    cur = await conn.execute(query("due_schedules"), {"limit": limit})
    rows = await cur.fetchall()
    for row in rows:
        await _handle(conn, row)
    return len(rows)


async def _handle(conn: AsyncConnection, row: dict[str, Any]) -> None:
    key = {"path": row["path"], "name": row["name"]}
    now, tick = row["db_now"], row["next_fire_at"]
    if tick is None:
        await _move(conn, key, next_tick(row, now), skipped=0)
        return
    if overlapping(row):
        if row["overlap"] == "queue":
            return  # the tick waits, due, until the last run ends
        if row["overlap"] == "skip":
            await _move(conn, key, next_tick(row, now, base=tick), skipped=1)
            return
    execution_id = tick_execution_id(row["path"], row["name"], tick)
    payload = {
        "path": row["path"],
        "workload": row["workload"],
        "schedule": {"name": row["name"], "tick": tick.isoformat()},
    }
    await conn.execute(
        query("fire_schedule_tick"),
        {
            **key,
            "execution_id": execution_id,
            "start_event": EventName.WORKFLOW_START,
            "payload": json.dumps(payload),
            "tick": tick,
            "next_fire_at": next_tick(row, now, base=tick),
        },
    )


async def _move(conn: AsyncConnection, key: dict[str, str], at, *, skipped: int) -> None:
    await conn.execute(query("move_schedule"), {**key, "next_fire_at": at, "skipped": skipped})


async def list_schedules(conn: AsyncConnection, path: str | None = None) -> list[dict[str, Any]]:
    cur = await conn.execute(query("list_schedules"), {"path": path})
    return list(await cur.fetchall())


async def set_paused(
    conn: AsyncConnection, path: str, name: str | None, paused: bool
) -> list[dict[str, Any]]:
    """Pause or resume the schedules of `path` (one, if `name`); the rows changed."""
    cur = await conn.execute(
        query("set_schedules_paused"), {"path": path, "name": name, "paused": paused}
    )
    return list(await cur.fetchall())
