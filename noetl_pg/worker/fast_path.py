"""The fast path (DESIGN.md "The fast path"): a worker that reports a finished command
also applies its call.done, in the same transaction, when the execution is free.

The engine's advisory lock decides who applies: if this transaction gets it, the event
is applied here through the engine's own `EventApplier` (the same pure core and store
code, no second implementation) and the next commands are queued before the report
commits, saving the engine's claim hop. If the engine (or another worker) holds it, the
event stays waiting and the engine applies it, exactly as on the two-hop path.
"""

from __future__ import annotations

import os
from collections.abc import Mapping

from psycopg_pool import AsyncConnectionPool

from noetl_pg.engine.apply import EventApplier
from noetl_pg.protocol import Lease
from noetl_pg.store.engine_store import EngineStore
from noetl_pg.store.queue import CommandQueue

FAST_PATH_ENV = "NOETL_FAST_PATH"


def fast_path_from_env(env: Mapping[str, str] = os.environ) -> bool:
    """On unless NOETL_FAST_PATH says 0/off/false/no."""
    return env.get(FAST_PATH_ENV, "1").strip().lower() not in {"0", "off", "false", "no"}


class FastReporter:
    """Reports commands and, when the execution's lock is free, applies them at once."""

    def __init__(self, pool: AsyncConnectionPool, queue: CommandQueue, worker_id: str) -> None:
        self.pool = pool
        self.queue = queue
        self.worker_id = worker_id
        self.applier = EventApplier()
        self.applied = 0  # reports applied here (the rest were left to the engine)

    async def report(
        self, lease: Lease, *, ok: bool, payload_json: str, last_error: str | None
    ) -> int | None:
        """As `CommandQueue.report`; the call.done is applied here when the lock is free."""
        async with self.pool.connection() as conn, conn.transaction():
            row = await self.queue.report_row(
                conn, lease, ok=ok, payload_json=payload_json, last_error=last_error
            )
            if row is None:
                return None  # lease lost: nothing recorded, nothing to apply
            store = EngineStore(conn, self.worker_id)
            # An event of no known execution is the engine's to refuse, not ours.
            if await store.lock_execution(row["execution_id"]) and await self.applier.apply(
                store, [row["execution_id"]], known_only=True
            ):
                self.applied += 1
            return row["event_id"]
