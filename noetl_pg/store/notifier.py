"""The one component that LISTENs: it turns notifications into wake-ups.

Daemons never poll blindly; they call `wait()`, which returns when a notification arrives,
when the connection was (re)established (anything may have been missed while it was down),
or when the safety timeout passes. `wait()` has one waiter (a daemon's loop); many waiters
(the gateway's long-polls) use `generation` and `changed_since()`. Nothing else in the code
touches LISTEN.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

import psycopg

from noetl_pg.store.db import connect_async

log = logging.getLogger(__name__)


class Notifier:
    def __init__(self, dsn: str, channel: str, *, name: str = "noetl-pg") -> None:
        self._dsn = dsn
        self._channel = channel
        self._name = name
        self._wake = asyncio.Event()
        self._generation = 0  # counts wake-ups, for `changed_since`
        self._changed = asyncio.Event()  # set (and replaced) at each wake-up
        self._task: asyncio.Task[None] | None = None
        self._conn: psycopg.AsyncConnection | None = None
        self.enabled = True  # benchmarks turn this off to measure the safety-timer path
        self.connected = asyncio.Event()

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name=f"notifier:{self._channel}")

    async def stop(self) -> None:
        if self._task:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        if self._conn is not None:
            await self._conn.close()

    def wake(self) -> None:
        """Wake the waiter now (used by the process itself after it produced work)."""
        self._wake.set()

    async def wait(self, timeout: float) -> bool:
        """Wait for a wake-up; True if woken, False if the timeout passed."""
        if timeout <= 0:
            return self._consume()
        try:
            await asyncio.wait_for(self._wake.wait(), timeout)
        except TimeoutError:
            return False
        return self._consume()

    @property
    def generation(self) -> int:
        """Read before looking at the table; pass to `changed_since` to wait for news."""
        return self._generation

    async def changed_since(self, generation: int, timeout: float) -> bool:
        """Wait until a wake-up after `generation` (any number of waiters); True if one
        came, False if the timeout passed."""
        if self._generation != generation:
            return True
        try:
            await asyncio.wait_for(self._changed.wait(), timeout)
        except TimeoutError:
            return False
        return True

    def _notified(self) -> None:
        self._wake.set()
        self._generation += 1
        changed, self._changed = self._changed, asyncio.Event()
        changed.set()

    def _consume(self) -> bool:
        woken = self._wake.is_set()
        self._wake.clear()
        return woken

    async def _run(self) -> None:
        backoff = 0.05
        while True:
            try:
                self._conn = await connect_async(
                    self._dsn, autocommit=True, application_name=f"{self._name}-listen"
                )
                await self._conn.execute(f"LISTEN {self._channel}")
                self.connected.set()
                self._notified()  # catch up on whatever happened while we were away
                backoff = 0.05
                async for _ in self._conn.notifies():
                    if self.enabled:
                        self._notified()
            except asyncio.CancelledError:
                raise
            except (psycopg.Error, OSError) as exc:
                log.warning("LISTEN %s connection lost (%s); reconnecting", self._channel, exc)
            finally:
                self.connected.clear()
                if self._conn is not None:
                    await self._conn.close()  # closing a broken connection does not raise
                    self._conn = None
            self._notified()
            await asyncio.sleep(backoff)
            backoff = min(backoff * 2, 5.0)
