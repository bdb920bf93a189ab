"""The floor: a minimal engine and worker in raw SQL doing the same round trips as noetl.

Engine: wake on NOTIFY, claim events with SKIP LOCKED, insert each chain's next command
(one statement, one NOTIFY), mark the events processed, commit. Worker: wake on NOTIFY,
lease commands with SKIP LOCKED, report each (finish the command + insert its event, one
statement, one NOTIFY). No rules, no templates, no state documents: what is left is the
cost of PostgreSQL, psycopg and asyncio, which no orchestrator on them can beat.

Run as processes: `python -m bench.baseline engine|worker` with NOETL_DSN set.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os

from psycopg import AsyncConnection
from psycopg_pool import AsyncConnectionPool

from bench.sql import q
from noetl_pg.signals import run_until_stopped
from noetl_pg.store.notifier import Notifier


class BaselineEngine:
    def __init__(self, dsn: str, batch: int = 64, safety_interval: float = 2.0) -> None:
        self.dsn = dsn
        self.batch = batch
        self.safety_interval = safety_interval
        self.notifier = Notifier(dsn, "noetl_bench_event", name="bench-base-engine")
        self._stopping = asyncio.Event()

    def stop(self) -> None:
        self._stopping.set()
        self.notifier.wake()

    async def run(self) -> None:
        self.notifier.start()
        async with await AsyncConnection.connect(self.dsn) as conn:
            while not self._stopping.is_set():
                while not self._stopping.is_set() and await self._batch(conn):
                    pass
                await self.notifier.wait(self.safety_interval)
        await self.notifier.stop()

    async def _batch(self, conn: AsyncConnection) -> int:
        async with conn.transaction():
            cur = await conn.execute(q("baseline_claim"), {"batch": self.batch})
            rows = await cur.fetchall()
            if not rows:
                return 0
            following = [r for r in rows if r[2] + 1 < r[3]]
            if following:
                await conn.execute(
                    q("baseline_insert_commands"),
                    {
                        "ids": [r[1] for r in following],
                        "steps": [r[2] + 1 for r in following],
                        "lengths": [r[3] for r in following],
                    },
                )
            await conn.execute(q("baseline_mark_processed"), {"ids": [r[0] for r in rows]})
        return len(rows)


class BaselineWorker:
    name = "bench-base"  # its worker ids and LISTEN connection start with this

    def __init__(self, dsn: str, concurrency: int = 4, safety_interval: float = 5.0) -> None:
        self.dsn = dsn
        self.concurrency = concurrency
        self.safety_interval = safety_interval
        self.worker_id = f"{self.name}-{os.getpid()}"
        self.notifier = Notifier(dsn, "noetl_bench_queue", name=f"{self.name}-worker")
        self._stopping = asyncio.Event()

    def stop(self) -> None:
        self._stopping.set()
        self.notifier.wake()

    async def run(self) -> None:
        self.notifier.start()
        pool = AsyncConnectionPool(  # one statement per call: no BEGIN/COMMIT around it
            self.dsn,
            min_size=1,
            max_size=self.concurrency + 1,
            kwargs={"autocommit": True},
            open=False,
            check=None,
        )
        await pool.open()
        try:
            while not self._stopping.is_set():
                async with pool.connection() as conn:
                    cur = await conn.execute(
                        q("baseline_lease"), {"n": self.concurrency, "worker_id": self.worker_id}
                    )
                    rows = await cur.fetchall()
                if rows:
                    await self.work(pool, rows)
                    continue
                await self.notifier.wait(self.safety_interval)
        finally:
            await self.notifier.stop()
            await pool.close()

    async def work(self, pool: AsyncConnectionPool, rows: list[tuple]) -> None:
        """Run and report the leased commands (each no-op, so running is reporting)."""
        await asyncio.gather(*(self._report(pool, row) for row in rows))

    async def _report(self, pool: AsyncConnectionPool, row: tuple) -> None:
        queue_id, _execution_id, _step, _steps, args = row
        async with pool.connection() as conn:
            await conn.execute(
                q("baseline_report"),
                {"queue_id": queue_id, "worker_id": self.worker_id, "payload": json.dumps(args)},
            )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.baseline")
    parser.add_argument("role", choices=["engine", "worker"])
    parser.add_argument("--concurrency", type=int, default=4)
    parser.add_argument("--batch", type=int, default=64)
    args = parser.parse_args(argv)
    dsn = os.environ["NOETL_DSN"]
    if args.role == "engine":
        daemon: BaselineEngine | BaselineWorker = BaselineEngine(dsn, batch=args.batch)
    else:
        daemon = BaselineWorker(dsn, concurrency=args.concurrency)

    run_until_stopped(daemon)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
