"""`python -m bench.soak --minutes 60`: a steady load for a long time; nothing may grow.

The same system as `bench.load` (a fresh database, engines, workers and a gateway as real
processes on loopback), with one client starting `--rate` executions a second through the
gateway for `--minutes`. Every `--every` seconds it prints one line: each daemon's RSS,
the daemons' connections (pg_stat_activity), the queue depth (pending and leased
commands), unapplied events, and the completion lag of the executions that finished in
that interval. At the end it compares the last third of the run with the middle third
(the first third is warm-up) and exits 1, naming the figure, when one of them kept
growing: RSS by more than 20 % and 20 MiB, connections by any, queue depth or lag past
twice the middle third's worst (and more than 10 commands or 1 s). An unfinished
execution, a failed start or a daemon that died also fails it.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import time
from dataclasses import dataclass, field

import httpx
import psycopg

from bench.load import DEFAULT_DSN, loaded_system, percentile, start_one, wait_finished
from bench.run import load, machine


@dataclass
class Sample:
    at: float  # seconds since the start
    rss_mib: dict[str, float]  # daemon label -> RSS
    connections: int
    queue_depth: int
    unapplied: int
    lag_p99: float  # seconds, executions finished since the previous sample (nan: none)
    started: int


def rss_mib(pid: int) -> float:
    try:
        with open(f"/proc/{pid}/status") as status:
            for line in status:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return float("nan")


SAMPLE = """
SELECT (SELECT count(*) FROM pg_stat_activity
         WHERE datname = current_database() AND pid <> pg_backend_pid()) AS connections,
       (SELECT count(*) FROM noetl.queue WHERE status IN ('pending', 'leased')) AS depth,
       (SELECT count(*) FROM noetl.event WHERE processed_at IS NULL) AS unapplied
"""
LAGS = """
SELECT extract(epoch FROM x.finished_at - e.created_at)::float8
  FROM noetl.execution x
  JOIN noetl.event e ON e.execution_id = x.execution_id AND e.event_type = 'workflow.start'
 WHERE x.finished_at > %s
"""


@dataclass
class Starter:
    url: str
    rate: float
    ids: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    async def run(self, until: float) -> None:
        async with httpx.AsyncClient(base_url=self.url, timeout=60) as client:
            k = 0
            next_at = time.monotonic()
            while next_at < until:
                execution_id = f"soak-{k}"
                try:
                    answer = await start_one(client, execution_id, k)
                    if answer.status_code in (200, 202):
                        self.ids.append(execution_id)
                    else:
                        self.errors.append(f"{answer.status_code} {answer.text[:200]}")
                except httpx.HTTPError as exc:
                    self.errors.append(f"{type(exc).__name__}: {exc}")
                k += 1
                next_at += 1 / self.rate
                await asyncio.sleep(max(0.0, next_at - time.monotonic()))


async def soak(system, dsn: str, options: argparse.Namespace) -> list[Sample]:
    starter = Starter(system.url, options.rate)
    began = time.monotonic()
    until = began + options.minutes * 60
    task = asyncio.create_task(starter.run(until))
    labels = {
        f"{kind}{i}": process.pid
        for kind, processes in system.processes.items()
        for i, process in enumerate(processes)
    }
    samples: list[Sample] = []
    async with await psycopg.AsyncConnection.connect(dsn, autocommit=True) as conn:
        since = (await (await conn.execute("SELECT now()")).fetchone())[0]
        while time.monotonic() < until:
            await asyncio.sleep(options.every)
            system.check_alive()
            now = (await (await conn.execute("SELECT now()")).fetchone())[0]
            row = await (await conn.execute(SAMPLE)).fetchone()
            lags = [lag for (lag,) in await (await conn.execute(LAGS, [since])).fetchall()]
            since = now
            sample = Sample(
                at=round(time.monotonic() - began, 1),
                rss_mib={label: round(rss_mib(pid), 1) for label, pid in labels.items()},
                connections=row[0],
                queue_depth=row[1],
                unapplied=row[2],
                lag_p99=round(percentile(lags, 99), 3),
                started=len(starter.ids),
            )
            samples.append(sample)
            rss = " ".join(f"{k}={v:.0f}" for k, v in sample.rss_mib.items())
            print(
                f"{sample.at:>7.0f}s started {sample.started:>7} rss MiB {rss}"
                f" conns {sample.connections:>3} queue {sample.queue_depth:>4}"
                f" unapplied {sample.unapplied:>4} lag p99 {sample.lag_p99:.2f}s",
                flush=True,
            )
    await task
    system.starter = starter  # for main: the ids and errors
    return samples


def growth(samples: list[Sample]) -> list[str]:
    """What kept growing: the last third against the middle third."""
    third = len(samples) // 3
    if third < 2:
        return ["the run is too short to judge growth (fewer than 6 samples)"]
    middle, last = samples[third : 2 * third], samples[2 * third :]
    problems = []
    for label in samples[0].rss_mib:
        before = max(s.rss_mib[label] for s in middle)
        after = statistics.median(s.rss_mib[label] for s in last)
        if after > before * 1.2 and after - before > 20:
            problems.append(f"RSS of {label} grew from {before:.0f} to {after:.0f} MiB")
    before = max(s.connections for s in middle)
    after = max(s.connections for s in last)
    if after > before:
        problems.append(f"connections grew from {before} to {after}")
    for name, slack in (("queue_depth", 10), ("lag_p99", 1.0)):
        values = [getattr(s, name) for s in middle if getattr(s, name) == getattr(s, name)]
        later = [getattr(s, name) for s in last if getattr(s, name) == getattr(s, name)]
        if values and later and statistics.median(later) > max(2 * max(values), slack):
            problems.append(f"{name} grew from at most {max(values)} to {later}")
    return problems


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.soak", description=__doc__)
    parser.add_argument("--dsn", default=DEFAULT_DSN, help="the server (a database is made)")
    parser.add_argument("--minutes", type=float, default=60.0)
    parser.add_argument("--rate", type=float, default=5.0, help="starts per second")
    parser.add_argument("--every", type=float, default=10.0, help="seconds between samples")
    parser.add_argument("--engines", type=int, default=1)
    parser.add_argument("--workers", type=int, default=1)
    options = parser.parse_args(argv)

    print(f"machine: {machine()}; load {load()} before", flush=True)
    with loaded_system(options.dsn, options.engines, options.workers) as (dsn, system):
        samples = asyncio.run(soak(system, dsn, options))
        starter = system.starter
        unfinished = wait_finished(dsn, starter.ids, timeout=300)
        system.check_alive()
    problems = growth(samples)
    if starter.errors:
        problems.append(f"{len(starter.errors)} starts failed, e.g. {starter.errors[:3]}")
    if unfinished:
        problems.append(f"{unfinished} executions unfinished 300 s after the last start")
    print(
        f"{len(starter.ids)} executions in {options.minutes:g} min at {options.rate:g}/s;"
        f" load {load()} after"
    )
    for problem in problems:
        print(f"FAIL: {problem}")
    if not problems:
        print("OK: memory, connections, queue depth and lag stayed flat")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
