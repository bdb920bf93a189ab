"""Waiting for an engine to apply an event, without evaluating anything ourselves.

One background task polls for every waiting request at once (one query per interval,
whatever the number of waiters), so a burst of POSTs does not become a burst of polls.
The engine marks an applied event by setting `processed_at`; that is all we look at.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any

import psycopg
import psycopg_pool

from noetl_pg.store import events

log = logging.getLogger(__name__)

POLL_INTERVAL = 0.02


class ProcessedWaiter:
    def __init__(self, pool: psycopg_pool.AsyncConnectionPool, interval: float = POLL_INTERVAL):
        self._pool = pool
        self._interval = interval
        self._waiting: dict[tuple[int, str], list[asyncio.Future[dict[str, Any]]]] = {}
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="gateway:processed-waiter")

    async def stop(self) -> None:
        if self._task:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        for futures in self._waiting.values():
            for future in futures:
                future.cancel()
        self._waiting.clear()

    async def wait(self, event_id: int, execution_id: str, timeout: float) -> dict[str, Any] | None:
        """The applied event's row (commands_generated, error), or None on timeout."""
        if timeout <= 0:
            return None
        key = (event_id, execution_id)
        future: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self._waiting.setdefault(key, []).append(future)
        self._wake.set()
        try:
            return await asyncio.wait_for(future, timeout)
        except TimeoutError:
            return None
        finally:
            futures = self._waiting.get(key, [])
            if future in futures:
                futures.remove(future)
            if not futures:
                self._waiting.pop(key, None)

    async def _run(self) -> None:
        while True:
            if not self._waiting:
                self._wake.clear()
                await self._wake.wait()
            try:
                await self._poll_once()
            except (psycopg.Error, psycopg_pool.PoolTimeout) as exc:
                # The waiters time out and answer 202; the event is safely stored.
                log.warning("polling for processed events failed: %s", exc)
            await asyncio.sleep(self._interval)

    async def _poll_once(self) -> None:
        keys = list(self._waiting)
        if not keys:
            return
        async with self._pool.connection() as conn:
            rows = await events.processed_events(conn, keys)
        for row in rows:
            for future in self._waiting.pop((row["event_id"], row["execution_id"]), []):
                if not future.done():
                    future.set_result(row)
