"""The worker's queue over SQL: a pool on the orchestrator's database, a LISTEN on the
queue channel for wake-ups, and the fast path for reports (`CommandTransport`)."""

from __future__ import annotations

import contextlib
from collections.abc import Iterable
from datetime import datetime
from typing import Any

from noetl_pg.protocol.lease import ChildStart, Lease, LeasedCommand
from noetl_pg.store.db import async_pool
from noetl_pg.store.notifier import Notifier
from noetl_pg.store.queue import CommandQueue
from noetl_pg.worker.fast_path import FastReporter

CHANNEL = "noetl_queue"
IDLE_FLOOR = 0.05  # never spin: a ready row we could not lease is being leased by another


class SqlTransport:
    """The worker on the orchestrator's database: a pool, a LISTEN, the fast path."""

    def __init__(self, dsn: str, worker_id: str, *, concurrency: int, fast_path: bool) -> None:
        self.dsn = dsn
        self.worker_id = worker_id
        self.concurrency = concurrency
        self.fast_path = fast_path
        self.orchestrator: CommandQueue | None = None
        self._fast: FastReporter | None = None
        self._notifier: Notifier | None = None
        self._stack = contextlib.AsyncExitStack()

    async def __aenter__(self) -> SqlTransport:
        pool = async_pool(
            self.dsn,
            min_size=1,
            max_size=min(self.concurrency, 8) + 2,
            name="noetl-worker",
            autocommit=True,  # every CommandQueue call is one statement: no BEGIN/COMMIT
            check=False,  # a dead connection fails the call, which is retried
        )
        await pool.open()
        self._stack.push_async_callback(pool.close)
        self.orchestrator = CommandQueue(pool, self.worker_id)
        if self.fast_path:
            self._fast = FastReporter(pool, self.orchestrator, self.worker_id)
        self._notifier = Notifier(self.dsn, CHANNEL, name="noetl-worker")
        self._notifier.start()
        self._stack.push_async_callback(self._notifier.stop)
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self._stack.aclose()

    @property
    def _queue(self) -> CommandQueue:
        assert self.orchestrator is not None, "use the transport inside `async with`"
        return self.orchestrator

    async def lease_commands(self, n: int, lease_seconds: float) -> list[LeasedCommand]:
        rows = await self._queue.lease_commands(n, lease_seconds)
        return [LeasedCommand.model_validate(row) for row in rows]

    async def wait_for_work(self, timeout: float, slots: int) -> bool:
        assert self._notifier is not None
        if slots > 0:
            delay = await self._queue.next_available_delay()
            if delay is not None:
                timeout = min(timeout, max(delay, IDLE_FLOOR))
        return await self._notifier.wait(timeout)

    def wake(self) -> None:
        if self._notifier is not None:
            self._notifier.wake()

    interrupt = wake

    async def heartbeat(self, leases: Iterable[Lease], lease_seconds: float) -> set[int]:
        return await self._queue.heartbeat(leases, lease_seconds)

    async def release(self, leases: Iterable[Lease]) -> set[int]:
        return await self._queue.release(leases)

    async def report(
        self, lease: Lease, *, ok: bool, payload_json: str, last_error: str | None
    ) -> int | None:
        reporter = self._fast or self._queue
        return await reporter.report(lease, ok=ok, payload_json=payload_json, last_error=last_error)

    async def start_child_playbook(
        self, lease: Lease, child_execution_id: str, payload: dict[str, Any]
    ) -> ChildStart:
        return await self._queue.start_child_playbook(lease, child_execution_id, payload)

    async def park_wait(
        self, lease: Lease, *, signal: str | None, after: float | None, until: datetime | None
    ) -> bool:
        return await self._queue.park_wait(lease, signal=signal, after=after, until=until)
