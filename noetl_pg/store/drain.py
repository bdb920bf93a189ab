"""Drain (the rollback plan: stop taking new workflows, let the running ones finish).

One row, `noetl.control`. While it says draining, a new `workflow.start` is refused: by
`ClientEvents` (HTTP 503 `draining`, the CLI's exit 1) and, for one inserted by SQL, by
the engine, which records the event refused with the same reason. A sub-playbook's start
(it names its parent) is not new work: it is how a running execution finishes. Schedules
do not fire while draining; their ticks fire once when it ends.
"""

from __future__ import annotations

from typing import Any

from psycopg import AsyncConnection

from noetl_pg.store.errors import Draining
from noetl_pg.store.queries import query

REFUSAL = Draining().message  # the engine's reason for a start inserted by SQL


async def is_draining(conn: AsyncConnection) -> bool:
    cur = await conn.execute(query("is_draining"))
    row = await cur.fetchone()
    return bool(row and row["draining"])


async def refuse_if_draining(conn: AsyncConnection) -> None:
    """Raise `Draining` while the deployment drains (a client's new start)."""
    if await is_draining(conn):
        raise Draining()


async def drain_status(conn: AsyncConnection) -> dict[str, Any]:
    cur = await conn.execute(query("drain_status"))
    return dict(await cur.fetchone())


async def set_draining(conn: AsyncConnection, draining: bool, by: str) -> dict[str, Any]:
    """Turn drain on or off; the status after the change."""
    async with conn.transaction():
        await conn.execute(query("set_draining"), {"draining": draining, "by": by})
    return await drain_status(conn)
