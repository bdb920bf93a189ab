"""Statements sent to PostgreSQL per step, by daemon and by statement: deterministic where
timings are noisy, so a change to the hot path can be judged on any machine.

`python -m bench.roundtrips [--executions M] [--steps K] [--concurrency N] [--path P]
[--dsn DSN]` runs noetl's Engine and Worker in this process on a fresh database and counts
every statement their connections send (BEGIN, COMMIT and the pool's empty check query
included) while M executions of K noop steps run. `--path fast|two-hops` sets
NOETL_FAST_PATH=1|0 for the worker, as `bench.run` does for its daemons. It uses psycopg's
pure-Python libpq wrapper (PSYCOPG_IMPL=python) so that sends can be counted; figures are
counts, not time.
"""

from __future__ import annotations

import os

os.environ["PSYCOPG_IMPL"] = "python"  # before psycopg is imported: countable sends

import argparse
import asyncio
import collections
from typing import Any

import psycopg
from psycopg.pq import pq_ctypes

from bench.paths import FAST, NOT_IN_BUILD, TWO_HOPS, fast_path_in_build
from bench.run import LOCAL_DSN, bench_database, prepare
from bench.sql import q
from bench.workloads import register_chain
from noetl_pg.engine.daemon import Engine
from noetl_pg.worker.daemon import Worker

PATHS = {"fast": FAST, "two-hops": TWO_HOPS}
COUNTS: collections.Counter[tuple[str, str]] = collections.Counter()
_PREPARED: dict[tuple[int, bytes], bytes] = {}


def _who(pgconn: Any) -> str:
    name = (pgconn.parameter_status(b"application_name") or b"?").decode()
    return "engine" if name.startswith("engine") else name


def _first_words(command: bytes) -> str:
    lines = [line for line in command.decode().strip().splitlines() if not line.startswith("--")]
    return " ".join(" ".join(lines).split())[:56] or "<empty: pool check>"


def _count_sends() -> None:
    def counting(name: str):
        original = getattr(pq_ctypes.PGconn, name)

        def send(self, command, *args, **kwargs):
            COUNTS[(_who(self), _first_words(command))] += 1
            return original(self, command, *args, **kwargs)

        setattr(pq_ctypes.PGconn, name, send)

    for name in ("send_query", "send_query_params", "exec_", "exec_params"):
        counting(name)
    prepare_original = pq_ctypes.PGconn.send_prepare
    prepared_original = pq_ctypes.PGconn.send_query_prepared

    def send_prepare(self, name, command, *args, **kwargs):
        _PREPARED[(id(self), name)] = command
        return prepare_original(self, name, command, *args, **kwargs)

    def send_query_prepared(self, name, *args, **kwargs):
        command = _PREPARED.get((id(self), name), name)
        COUNTS[(_who(self), _first_words(command))] += 1
        return prepared_original(self, name, *args, **kwargs)

    pq_ctypes.PGconn.send_prepare = send_prepare
    pq_ctypes.PGconn.send_query_prepared = send_query_prepared


async def _measure(dsn: str, path: str, executions: int, concurrency: int) -> dict:
    engine = Engine(dsn)
    worker = Worker(dsn, concurrency=concurrency)
    tasks = [asyncio.create_task(engine.run()), asyncio.create_task(worker.run())]
    await asyncio.wait_for(worker.ready.wait(), 30)
    await asyncio.sleep(0.5)
    ids = [f"rt-{i}" for i in range(executions)]
    async with await psycopg.AsyncConnection.connect(
        dsn, autocommit=True, application_name="bench"
    ) as conn:
        COUNTS.clear()
        await conn.execute(q("ours_start"), {"ids": ids, "path": path})
        while (await (await conn.execute(q("ours_finished"), {"ids": ids})).fetchone())[0] < len(
            ids
        ):
            await asyncio.sleep(0.1)
        counted = dict(COUNTS)
    engine.stop()
    worker.stop()
    await asyncio.gather(*tasks)
    return counted


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.roundtrips", description=__doc__)
    parser.add_argument("--executions", type=int, default=1)
    parser.add_argument("--steps", type=int, default=40)
    parser.add_argument("--concurrency", type=int, default=4)
    parser.add_argument(
        "--path", choices=sorted(PATHS), default="fast", help="the worker's path (fast)"
    )
    parser.add_argument("--dsn", default=os.environ.get("NOETL_BENCH_DSN", LOCAL_DSN))
    args = parser.parse_args(argv)
    path = PATHS[args.path]
    os.environ.update(path.env())  # before the Worker is built: it reads its switch there
    in_build = fast_path_in_build()
    _count_sends()
    with bench_database(args.dsn) as dsn:
        prepare(dsn)
        playbook = register_chain(dsn, args.steps)  # before the loop: it may run its own
        counted = asyncio.run(_measure(dsn, playbook, args.executions, args.concurrency))
    steps = args.executions * args.steps
    totals: collections.Counter[str] = collections.Counter()
    for (who, _), n in counted.items():
        if who != "bench":
            totals[who] += n
    shown = path.label if in_build or not path.fast else f"{path.label} ({NOT_IN_BUILD}: two hops)"
    print(
        f"{args.executions} execution(s) x {args.steps} steps, worker concurrency"
        f" {args.concurrency}, {shown}: statements per step "
        + ", ".join(f"{who} {n / steps:.2f}" for who, n in sorted(totals.items()))
    )
    for (who, text), n in sorted(counted.items(), key=lambda item: -item[1]):
        if who != "bench" and n / steps >= 0.01:
            print(f"  {who:<20} {n / steps:6.2f}  {text}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
