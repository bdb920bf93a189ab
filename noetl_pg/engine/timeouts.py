"""The engine's maintenance scan for timeouts (DSL.md section 9).

Deadlines are rows, so nothing is lost when a process dies: every engine runs this scan
each time it wakes (on a notification or its safety timer), and a deadline that passed
while every daemon was down fires when the first engine is back. The `timeout` event it
inserts is applied by whichever engine claims the execution, like any other event.
"""

from __future__ import annotations

import logging

from noetl_pg.store.deadlines import fire_due_deadlines

log = logging.getLogger("noetl_pg.engine")

SCAN_LIMIT = 500  # deadlines fired per transaction; the next wake-up takes the rest


async def fire_timeouts(pool) -> int:
    """Fire the passed deadlines, in transactions of at most SCAN_LIMIT; how many fired."""
    total = 0
    while True:
        async with pool.connection() as conn, conn.transaction():
            fired = await fire_due_deadlines(conn, SCAN_LIMIT)
        total += fired
        if fired < SCAN_LIMIT:
            break
    if total:
        log.info("%d deadline(s) passed: timeout events inserted", total)
    return total
