"""An engine and workers as asyncio tasks of this process (`noetl-pg run`, `noetl-pg dev`).

They are the same daemons as `noetl-engine` and `noetl-worker`, talking only to
PostgreSQL; running them in-process just saves starting three programs on a laptop.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

from noetl_pg.engine.daemon import Engine
from noetl_pg.worker.daemon import Worker

log = logging.getLogger("noetl_pg.cli")


class DaemonCrashed(RuntimeError):
    """An in-process engine or worker ended on its own; the message says which and why."""


@dataclass
class Daemons:
    engine: Engine
    workers: list[Worker]
    tasks: list[asyncio.Task[None]] = field(default_factory=list)

    def check(self) -> None:
        """Raise `DaemonCrashed` when a daemon task has ended (it only ends when stopped)."""
        for task in self.tasks:
            if task.done():
                exc = None if task.cancelled() else task.exception()
                raise DaemonCrashed(f"the in-process {task.get_name()} stopped: {exc!r}")

    def stop(self, *, hurry: bool = False) -> None:
        self.engine.stop()
        for worker in self.workers:
            worker.stop()
            if hurry:
                worker.stop()  # a second stop releases running commands now


@contextlib.asynccontextmanager
async def running_daemons(
    dsn: str, *, workers: int = 1, concurrency: int = 4, grace_seconds: float = 5.0
) -> AsyncIterator[Daemons]:
    """Start an engine and `workers` workers; on exit stop them and wait until they have."""
    tag = f"{socket.gethostname()[:40]}-{os.getpid()}"
    daemons = Daemons(
        engine=Engine(dsn, engine_id=f"engine-{tag}"),
        workers=[
            Worker(
                dsn,
                worker_id=f"worker-{tag}-{n}",
                concurrency=concurrency,
                grace_seconds=grace_seconds,
            )
            for n in range(1, workers + 1)
        ],
    )
    daemons.tasks.append(asyncio.create_task(daemons.engine.run(), name="engine"))
    for worker in daemons.workers:
        daemons.tasks.append(asyncio.create_task(worker.run(), name=f"worker {worker.worker_id}"))
    try:
        yield daemons
    finally:
        daemons.stop()
        results = await asyncio.gather(*daemons.tasks, return_exceptions=True)
        for task, result in zip(daemons.tasks, results, strict=True):
            if isinstance(result, BaseException) and not isinstance(result, asyncio.CancelledError):
                log.error("%s ended with %r", task.get_name(), result)
