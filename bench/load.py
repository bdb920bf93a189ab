"""`python -m bench.load`: sustained starts through the real gateway, next to its floor.

A fresh database on `--dsn`'s server, E engines, W workers and one gateway as real
processes, all on loopback. N HTTP clients (httpx, one connection each) start executions
of a one-step playbook as fast as the gateway answers, each with its own Idempotency-Key,
re-send every tenth start (the answer must be the stored one, never a second execution),
and read each execution's status. A 503 (the gateway's "retry later" when its pool is
busy) is retried with the same key after its Retry-After, and counted. Printed:
starts/s, p50/p99 start latency (retries included), status reads, errors, duplicates,
and the completion lag (from the `workflow.start` row to the
execution's `finished_at`, from the rows). The floor, in the same run with the same
clients: `GET /api/v2/health` (HTTP, the gateway and one pooled query, no write). Exit 1 when
any request failed or anything was doubled or left unfinished; speed never fails it.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import psycopg

from bench.run import bench_database, load, machine
from noetl_pg.store.migrations import upgrade
from tests.support.catalog import register_playbook
from tests.support.processes import free_port, kill, start_daemon, terminate

PATH = "bench/load"
PLAYBOOK = f"""
apiVersion: noetl.io/v2
kind: Playbook
metadata: {{name: load, path: {PATH}}}
workload: {{n: 0}}
workflow:
  - step: start
    args: {{n: "{{{{ workload.n }}}}"}}
    tool: {{kind: noop}}
"""
DEFAULT_DSN = os.environ.get("NOETL_BENCH_DSN", "postgresql://127.0.0.1:5432/test")


# --- the system under load -------------------------------------------------------------


@dataclass
class System:
    """Engines, workers and a gateway on one database, as real processes."""

    dsn: str
    engines: int = 1
    workers: int = 1
    log_dir: Path = field(default_factory=lambda: Path(f"/tmp/noetl-bench-load-{os.getpid()}"))
    processes: dict[str, list[subprocess.Popen[bytes]]] = field(default_factory=dict)
    url: str = ""

    def __enter__(self) -> System:
        quiet = {"NOETL_LOG_LEVEL": "WARNING"}
        spawn = start_daemon
        self.processes["engine"] = [
            spawn("engine", self.dsn, self.log_dir, **quiet) for _ in range(self.engines)
        ]
        self.processes["worker"] = [
            spawn("worker", self.dsn, self.log_dir, **quiet) for _ in range(self.workers)
        ]
        port = free_port()
        gateway_args = ("--host", "127.0.0.1", "--port", str(port), "--log-level", "warning")
        self.processes["gateway"] = [spawn("gateway", self.dsn, self.log_dir, *gateway_args)]
        self.url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 60
        while True:
            self.check_alive()
            with contextlib.suppress(httpx.TransportError):
                if httpx.get(f"{self.url}/api/v2/health", timeout=5).status_code == 200:
                    return self
            if time.monotonic() > deadline:
                raise RuntimeError(f"the gateway never became healthy; logs in {self.log_dir}")
            time.sleep(0.1)

    def __exit__(self, *exc: object) -> None:
        for process in self.all():
            try:
                terminate(process, timeout=30)
            except subprocess.TimeoutExpired:
                kill(process)

    def all(self) -> Iterator[subprocess.Popen[bytes]]:
        for processes in self.processes.values():
            yield from processes

    def check_alive(self) -> None:
        for kind, processes in self.processes.items():
            for process in processes:
                if process.poll() is not None:
                    raise RuntimeError(
                        f"{kind} pid {process.pid} exited {process.returncode};"
                        f" logs in {self.log_dir}"
                    )


@contextlib.contextmanager
def loaded_system(server_dsn: str, engines: int, workers: int) -> Iterator[tuple[str, System]]:
    """A fresh migrated database with the load playbook, and the daemons on it."""
    with bench_database(server_dsn, "load") as dsn:
        upgrade(dsn)
        with psycopg.connect(dsn, autocommit=True) as conn:
            register_playbook(conn, PLAYBOOK)
        with System(dsn, engines, workers) as system:
            yield dsn, system


def percentile(values: list[float], p: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(p / 100 * len(ordered)))]


# --- the clients -----------------------------------------------------------------------


@dataclass
class Tally:
    starts: list[float] = field(default_factory=list)  # latencies, seconds
    reads: int = 0
    resent: int = 0
    retried_503: int = 0  # answers "busy, retry later", retried with the same key
    errors: list[str] = field(default_factory=list)
    ids: list[str] = field(default_factory=list)

    def error(self, what: str) -> None:
        if len(self.errors) < 20:
            self.errors.append(what)
        else:
            self.errors.append("")  # counted, not printed


async def start_one(client: httpx.AsyncClient, execution_id: str, n: int) -> httpx.Response:
    return await client.post(
        "/api/v2/events",
        params={"wait": 0},
        json={
            "name": "workflow.start",
            "execution_id": execution_id,
            "path": PATH,
            "workload": {"n": n},
        },
        headers={"Idempotency-Key": f"start-{execution_id}"},
    )


async def starter(url: str, index: int, until: float, tally: Tally) -> None:
    """One client: start, (every tenth) start again with the same key, read the status."""
    limits = httpx.Limits(max_connections=1, max_keepalive_connections=1)
    async with httpx.AsyncClient(base_url=url, timeout=60, limits=limits) as client:
        k = 0
        while time.monotonic() < until:
            execution_id = f"load-{os.getpid()}-{index}-{k}"
            began = time.monotonic()
            try:
                answer = await start_one(client, execution_id, k)
                while answer.status_code == 503:  # the documented "retry later" (pool busy)
                    tally.retried_503 += 1
                    await asyncio.sleep(float(answer.headers.get("Retry-After", "1")))
                    answer = await start_one(client, execution_id, k)
                tally.starts.append(time.monotonic() - began)
                if answer.status_code not in (200, 202):
                    tally.error(f"start {answer.status_code} {answer.text[:200]}")
                    continue
                tally.ids.append(execution_id)
                if k % 10 == 0:
                    again = await start_one(client, execution_id, k)
                    tally.resent += 1
                    if again.headers.get("Idempotent-Replayed") != "true":
                        tally.error(f"resent start {again.status_code}: not a replay")
                status = await client.get(f"/api/v2/executions/{execution_id}")
                tally.reads += 1
                if status.status_code not in (200, 404):  # 404: not applied yet (wait=0)
                    tally.error(f"status {status.status_code} {status.text[:200]}")
            except httpx.HTTPError as exc:
                tally.error(f"{type(exc).__name__}: {exc}")
            k += 1


async def health_floor(url: str, clients: int, seconds: float) -> list[float]:
    """The same clients, `GET /api/v2/health` only: the gateway's HTTP floor."""
    latencies: list[float] = []
    until = time.monotonic() + seconds

    async def one() -> None:
        limits = httpx.Limits(max_connections=1, max_keepalive_connections=1)
        async with httpx.AsyncClient(base_url=url, timeout=60, limits=limits) as client:
            while time.monotonic() < until:
                began = time.monotonic()
                await client.get("/api/v2/health")
                latencies.append(time.monotonic() - began)

    await asyncio.gather(*(one() for _ in range(clients)))
    return latencies


async def run_clients(url: str, clients: int, seconds: float) -> Tally:
    tally = Tally()
    until = time.monotonic() + seconds
    await asyncio.gather(*(starter(url, i, until, tally) for i in range(clients)))
    return tally


# --- what the rows say -----------------------------------------------------------------


def wait_finished(dsn: str, ids: list[str], timeout: float) -> int:
    """Wait for every started execution to finish; returns how many did not."""
    deadline = time.monotonic() + timeout
    with psycopg.connect(dsn, autocommit=True) as conn:
        while True:
            (finished,) = conn.execute(
                "SELECT count(*) FROM noetl.execution WHERE execution_id = ANY(%s)"
                " AND status IN ('completed', 'failed', 'cancelled')",
                [ids],
            ).fetchone()
            if finished == len(ids) or time.monotonic() > deadline:
                return len(ids) - finished
            time.sleep(0.5)


def row_figures(dsn: str, ids: list[str]) -> dict[str, float]:
    with psycopg.connect(dsn, autocommit=True) as conn:
        (starts, distinct) = conn.execute(
            "SELECT count(*), count(DISTINCT execution_id) FROM noetl.event"
            " WHERE event_type = 'workflow.start' AND execution_id = ANY(%s)",
            [ids],
        ).fetchone()
        (executions, completed) = conn.execute(
            "SELECT count(*), count(*) FILTER (WHERE status = 'completed')"
            " FROM noetl.execution WHERE path = %s",
            [PATH],
        ).fetchone()
        lags = [
            lag
            for (lag,) in conn.execute(
                "SELECT extract(epoch FROM x.finished_at - e.created_at)::float8"
                " FROM noetl.execution x JOIN noetl.event e"
                "   ON e.execution_id = x.execution_id AND e.event_type = 'workflow.start'"
                " WHERE x.execution_id = ANY(%s) AND x.finished_at IS NOT NULL",
                [ids],
            )
        ]
    return {
        "start_events": starts,
        "duplicated": (starts - distinct) + (executions - len(ids)),
        "completed": completed,
        "lag_p50": percentile(lags, 50),
        "lag_p99": percentile(lags, 99),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.load", description=__doc__)
    parser.add_argument("--dsn", default=DEFAULT_DSN, help="the server (a database is made)")
    parser.add_argument("--clients", type=int, default=200)
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--floor-seconds", type=float, default=10.0)
    parser.add_argument("--engines", type=int, default=1)
    parser.add_argument("--workers", type=int, default=1)
    options = parser.parse_args(argv)

    load_before = load()
    with loaded_system(options.dsn, options.engines, options.workers) as (dsn, system):
        began = time.monotonic()
        tally = asyncio.run(run_clients(system.url, options.clients, options.seconds))
        elapsed = time.monotonic() - began
        unfinished = wait_finished(dsn, tally.ids, timeout=600)
        # The floor after the load, on the same warm daemons with nothing left to run.
        floor = asyncio.run(health_floor(system.url, options.clients, options.floor_seconds))
        system.check_alive()
        rows = row_figures(dsn, tally.ids)
    load_after = load()

    rate = len(tally.ids) / elapsed
    floor_rate = len(floor) / options.floor_seconds
    errors = len(tally.errors)
    print(f"machine: {machine()}; load {load_before} before, {load_after} after")
    print(
        f"{options.clients} clients, {options.seconds:g} s, {options.engines} engine(s),"
        f" {options.workers} worker(s), one gateway, loopback"
    )
    print(f"{'measure':<28}{'value':>12}{'floor (GET /health)':>22}")
    print(f"{'starts/s':<28}{rate:>12.1f}{floor_rate:>22.1f}")
    print(
        f"{'start p50 / p99 (ms)':<28}"
        f"{1000 * percentile(tally.starts, 50):>6.0f} /{1000 * percentile(tally.starts, 99):>5.0f}"
        f"{1000 * percentile(floor, 50):>15.0f} /{1000 * percentile(floor, 99):>5.0f}"
    )
    print(f"{'ratio to the floor':<28}{rate / floor_rate if floor_rate else 0:>12.2f}")
    print(f"{'completion lag p50 / p99 (s)':<28}{rows['lag_p50']:>6.2f} /{rows['lag_p99']:>5.2f}")
    print(
        f"executions {len(tally.ids)}, completed {rows['completed']}, unfinished {unfinished},"
        f" status reads {tally.reads}, re-sent starts {tally.resent},"
        f" duplicated {rows['duplicated']}, 503s retried {tally.retried_503}, errors {errors}"
    )
    for line in filter(None, tally.errors):
        print(f"  error: {line}")
    return 1 if errors or rows["duplicated"] or unfinished else 0


if __name__ == "__main__":
    sys.exit(main())
