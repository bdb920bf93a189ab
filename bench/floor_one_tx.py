"""The second floor: the one-transaction step in raw SQL, the ceiling of the fast path.

A worker that finishes a command reports it, applies it (event inserted processed, state
row written) and inserts the chain's next command already leased to itself, in one
statement and one commit (`one_tx_report` in bench/queries.sql), then runs that command
at once: no NOTIFY, no engine, no lease round trip between steps. The baseline engine
(`bench.baseline engine`) still turns each `workflow.start`-like event into the first
command, as noetl's engines keep client events. With `--batch B` the worker reports up to
B finished commands in one statement, and leases up to its free slots in one.

Run as a process: `python -m bench.floor_one_tx [--concurrency N] [--batch B]` (NOETL_DSN).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os

from psycopg_pool import AsyncConnectionPool

from bench.baseline import BaselineWorker
from bench.sql import q
from noetl_pg.signals import run_until_stopped


class OneTxWorker(BaselineWorker):
    name = "bench-1tx"

    def __init__(self, dsn: str, concurrency: int = 4, batch: int = 1) -> None:
        super().__init__(dsn, concurrency=concurrency)
        if batch < 1:
            raise ValueError("batch must be at least 1")
        self.batch = batch

    async def work(self, pool: AsyncConnectionPool, rows: list[tuple]) -> None:
        """Carry each group of `batch` leased commands through its chain to the end."""
        groups = [rows[k : k + self.batch] for k in range(0, len(rows), self.batch)]
        await asyncio.gather(*(self._carry(pool, group) for group in groups))

    async def _carry(self, pool: AsyncConnectionPool, rows: list[tuple]) -> None:
        while rows:  # running a no-op command is reporting it
            async with pool.connection() as conn:
                cur = await conn.execute(
                    q("one_tx_report"),
                    {
                        "queue_ids": [row[0] for row in rows],
                        "payloads": [json.dumps(row[4]) for row in rows],
                        "worker_id": self.worker_id,
                    },
                )
                rows = await cur.fetchall()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.floor_one_tx", description=__doc__)
    parser.add_argument("--concurrency", type=int, default=4, help="commands at once (4)")
    parser.add_argument("--batch", type=int, default=1, help="commands per report (1)")
    args = parser.parse_args(argv)
    run_until_stopped(OneTxWorker(os.environ["NOETL_DSN"], args.concurrency, args.batch))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
