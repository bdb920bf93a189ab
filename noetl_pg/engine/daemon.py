"""`noetl-engine`: claims unprocessed events and applies them, one transaction per batch.

It wakes on NOTIFY `noetl_event`, and also scans on start, on reconnect and on a slow
safety timer, so an event inserted by any means is applied even if its notification was
lost. A batch holds several executions; each execution's events are applied in order
under an advisory lock, so any number of engines can run side by side.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import socket
import sys
from collections.abc import Awaitable, Callable

import psycopg

from noetl_pg import daemon_metrics as metrics
from noetl_pg import tracing
from noetl_pg.engine.apply import EventApplier, storable_text
from noetl_pg.engine.leader import MaintenanceLeader
from noetl_pg.engine.maintenance import maintain, next_due_in
from noetl_pg.signals import run_until_stopped
from noetl_pg.store.config import resolve_dsn
from noetl_pg.store.db import async_pool
from noetl_pg.store.engine_store import EngineStore
from noetl_pg.store.notifier import Notifier

log = logging.getLogger("noetl_pg.engine")


class Engine:
    def __init__(
        self,
        dsn: str,
        *,
        engine_id: str | None = None,
        batch_executions: int = 64,
        batch_events: int = 1000,
        safety_interval: float = 2.0,
    ) -> None:
        self.dsn = dsn
        self.engine_id = engine_id or f"engine-{socket.gethostname()}-{os.getpid()}"
        self.batch_executions = batch_executions
        self.batch_events = batch_events
        self.safety_interval = safety_interval
        self.notifier = Notifier(dsn, "noetl_event", name=self.engine_id)
        self.applier = EventApplier(batch_events=batch_events)
        self.leader = MaintenanceLeader(dsn, self.engine_id)
        self._stopping = asyncio.Event()
        self._full = False

    def stop(self) -> None:
        self._stopping.set()
        self.notifier.wake()

    async def run(self) -> None:
        pool = async_pool(
            self.dsn,
            min_size=1,
            max_size=2,
            name=self.engine_id,
            check=False,  # a dead connection fails the batch, which run() retries
        )
        await pool.open(wait=False)
        self.notifier.start()
        leading = asyncio.create_task(self.leader.run(self._stopping))
        log.info("engine %s started", self.engine_id)
        backoff = 0.1
        try:
            while not self._stopping.is_set():
                try:
                    await maintain(pool)
                    while not self._stopping.is_set() and await self._process_batch(pool):
                        if not self._full:
                            break  # a partial batch took all there was; NOTIFY wakes us
                    pause = await next_due_in(pool, self.safety_interval)
                    backoff = 0.1
                except (psycopg.OperationalError, psycopg.InterfaceError) as exc:
                    metrics.DB_UNAVAILABLE.labels("engine").inc()
                    log.warning("database unavailable (%s); retrying in %.1fs", exc, backoff)
                    await asyncio.sleep(backoff)
                    backoff = min(backoff * 2, 5.0)
                    continue
                if not self._stopping.is_set():
                    metrics.woke("engine", await self.notifier.wait(pause))
        finally:
            leading.cancel()
            await asyncio.gather(leading, return_exceptions=True)
            await self.notifier.stop()
            await pool.close()
            log.info("engine %s stopped", self.engine_id)

    async def run_until_idle(self) -> int:
        """Apply everything that is waiting, then return (used by `noetl-pg run` and tests)."""
        pool = async_pool(self.dsn, min_size=1, max_size=1, name=self.engine_id)
        await pool.open()
        try:
            total = 0
            while count := await self._process_batch(pool):
                total += count
            return total
        finally:
            await pool.close()

    async def _process_batch(self, pool) -> int:
        """Claim and apply one batch; the number of events applied (0: nothing waiting)."""
        async with pool.connection() as conn:
            try:
                async with conn.transaction():
                    store = EngineStore(conn, self.engine_id)
                    ids = await store.claim_executions(batch=self.batch_executions, scan=4096)
                    return await self._apply(store, ids)
            except psycopg.DatabaseError as exc:
                if isinstance(exc, psycopg.OperationalError):
                    raise
                log.error("batch failed (%s); applying executions one by one", exc)
        # A write failed for some execution in the batch: isolate it.
        async with pool.connection() as conn, conn.transaction():
            store = EngineStore(conn, self.engine_id)
            ids = await store.claim_executions(batch=self.batch_executions, scan=1000)
        total = 0
        for execution_id in ids:
            total += await self._apply_one(pool, execution_id)
        return total

    async def _apply(self, store: EngineStore, ids: list[str]) -> int:
        if not ids:
            return 0
        with metrics.BATCH_SECONDS.time():
            count = await self.applier.apply(store, ids)
        metrics.EVENTS_APPLIED.inc(count)
        metrics.BATCH_EVENTS.observe(count)
        self._full = len(ids) >= self.batch_executions or count >= self.batch_events
        return count

    async def _apply_one(self, pool, execution_id: str) -> int:
        """One execution alone; if its effects cannot be stored, it is quarantined: failed
        from its stored state (parent told), its waiting events refused with the reason."""
        try:
            return await self._locked(pool, execution_id, lambda s: self._apply(s, [execution_id]))
        except psycopg.DatabaseError as exc:
            if isinstance(exc, psycopg.OperationalError):
                raise
            failure = storable_text(f"the engine could not store the effects of this event: {exc}")
        try:
            return await self._locked(
                pool, execution_id, lambda s: self.applier.quarantine(s, execution_id, failure)
            )
        except psycopg.DatabaseError as exc:
            if isinstance(exc, psycopg.OperationalError):
                raise
            log.error("execution %s could not be failed either (%s)", execution_id, exc)
        return await self._locked(
            pool, execution_id, lambda s: self.applier.refuse(s, execution_id, failure)
        )

    async def _locked(
        self, pool, execution_id: str, work: Callable[[EngineStore], Awaitable[int]]
    ) -> int:
        """Run `work` in a transaction of its own holding the execution's lock (0 when
        another engine holds it: that engine applies it)."""
        async with pool.connection() as conn, conn.transaction():
            store = EngineStore(conn, self.engine_id)
            if not await store.lock_execution(execution_id):
                return 0
            return await work(store)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="noetl-engine",
        description="Apply noetl-pg events: case rules, transitions, commands (reads NOETL_DSN).",
    )
    parser.add_argument("--engine-id", default=None)
    parser.add_argument("--batch", type=int, default=64, help="executions per transaction")
    parser.add_argument(
        "--safety-interval",
        type=float,
        default=float(os.environ.get("NOETL_SAFETY_INTERVAL", "2.0")),
        help="seconds between scans when no notification arrives (default 2)",
    )
    parser.add_argument("--log-level", default=os.environ.get("NOETL_LOG_LEVEL", "INFO"))
    metrics.add_option(parser)
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=args.log_level.upper(),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    engine = Engine(
        resolve_dsn(),
        engine_id=args.engine_id,
        batch_executions=args.batch,
        safety_interval=args.safety_interval,
    )
    metrics.serve(args.metrics_port)
    tracing.configure("noetl-engine")
    run_until_stopped(engine)
    return 0


if __name__ == "__main__":
    sys.exit(main())
