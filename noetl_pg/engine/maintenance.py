"""The engine's maintenance scan: what time and signals make due (DSL.md section 9).

Deadlines and waits are rows, so nothing is lost when a process dies: every engine runs
this scan each time it wakes (a notification or its safety timer), and a deadline or a
timer that passed while every daemon was down fires when the first engine is back. The
events the scan appends (`timeout`, a wait's `call.done`) are applied by whichever engine
claims the execution, like any other event; SKIP LOCKED makes two scans at once fire
each row once.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable

import psycopg
from psycopg import AsyncConnection

from noetl_pg.store.concurrency import admit_waiting
from noetl_pg.store.deadlines import fire_due_deadlines
from noetl_pg.store.queries import query
from noetl_pg.store.schedules import fire_due_schedules
from noetl_pg.store.waits import wake_waits

log = logging.getLogger("noetl_pg.engine")

SCAN_LIMIT = 500  # rows per transaction; the loop takes the rest at once

Scan = Callable[[AsyncConnection, int], Awaitable[int]]
SCANS: dict[str, Scan] = {
    "deadline(s) passed": fire_due_deadlines,
    "wait(s) woken": wake_waits,
    "schedule(s) ticked": fire_due_schedules,
    "queued execution(s) admitted": admit_waiting,
}


async def maintain(pool) -> int:
    """Run every scan until nothing more is due; how many rows fired."""
    total = 0
    for what, scan in SCANS.items():
        count = await _drain(pool, scan)
        if count:
            log.info("%d %s", count, what)
        total += count
    return total


async def next_due_in(pool, ceiling: float) -> float:
    """Seconds until the scan has something to do (at most `ceiling`, at least 0)."""
    async with pool.connection() as conn:
        cur = await conn.execute(query("next_due_in"))
        row = await cur.fetchone()
    seconds = row["seconds"] if row else None
    return ceiling if seconds is None else max(0.0, min(ceiling, seconds))


async def _drain(pool, scan: Scan) -> int:
    total = 0
    while True:
        try:
            async with pool.connection() as conn, conn.transaction():
                fired = await scan(conn, SCAN_LIMIT)
        except psycopg.errors.UniqueViolation:
            # Another engine's scan consumed the same signal first: it woke that wait.
            log.info("a concurrent scan took the same row; the next wake-up retries")
            return total
        except psycopg.DatabaseError as exc:
            if isinstance(exc, psycopg.OperationalError):
                raise  # the database is away: the daemon's loop waits for it
            log.error("maintenance scan %s failed (%s); the next wake-up retries", scan, exc)
            return total
        total += fired
        if fired < SCAN_LIMIT:
            return total
