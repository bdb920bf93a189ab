"""Playbook `concurrency` (DSL.md section 9): queued executions and their admission.

An execution of a playbook with `concurrency` is created `queued`. The transaction that
queues one, or that ends one holding a slot, admits the oldest queued executions of that
key while slots are free, under the key's lock; the engine's maintenance scan does the
same for every key with a queued execution, so a slot freed while another transaction
held the key's lock is not left empty.
"""

from __future__ import annotations

from typing import Any

from psycopg import AsyncConnection
from psycopg.types.json import Jsonb

from noetl_pg.protocol import EventName, ExecutionStatus
from noetl_pg.store.queries import query


async def set_queued(conn: AsyncConnection, rows: list[dict[str, Any]]) -> None:
    """`rows`: {execution_id, key, lim, seq} of executions queued in this transaction."""
    if rows:
        await conn.execute(query("set_queued"), {"rows": Jsonb(rows)})


async def admit(conn: AsyncConnection, ids: list[str]) -> None:
    """Admit what the keys of these executions have room for (with the engine's other
    writes, in its pipeline: nothing is read back)."""
    if ids:
        await _admit(conn, {"ids": list(ids), "keys": []})


async def _admit(conn: AsyncConnection, params: dict[str, Any]):
    await conn.execute(query("lock_concurrency_keys"), params)
    return await conn.execute(
        query("admit_queued"),
        {**params, "queued": ExecutionStatus.QUEUED, "admit_event": EventName.WORKFLOW_ADMIT},
    )


async def admit_waiting(conn: AsyncConnection, limit: int) -> int:
    """The maintenance scan: admit into every key that has a queued execution."""
    cur = await conn.execute(query("keys_with_queued"), {"limit": limit})
    keys = [row["key"] for row in await cur.fetchall()]
    if not keys:
        return 0
    cur = await _admit(conn, {"ids": [], "keys": keys})
    return len(await cur.fetchall())
