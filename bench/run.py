"""`python -m bench.run [--quick] [--dsn DSN]`: noetl's throughput and latency next to a
raw-SQL floor doing the same round trips, on one PostgreSQL, printed as one table and
written to bench/results/<date>.json. See bench/README.md for what the figures mean.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import json
import math
import os
import platform
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path

import psycopg
from psycopg.conninfo import conninfo_to_dict, make_conninfo

from bench.fleet import Fleet
from bench.sql import q
from bench.workloads import Run, register_chain, run_baseline, run_noetl
from noetl_pg.store.migrations import upgrade

LOCAL_DSN = "postgresql://127.0.0.1:5432/test"
RESULTS = Path(__file__).resolve().parent / "results"


@dataclass(frozen=True)
class Plan:
    chain_steps: int  # one execution of N steps
    fanout_executions: int  # M executions ...
    fanout_steps: int  # ... of K steps each, started at once
    timer_steps: int  # the chain run with notifications off
    engine_timer: float  # safety intervals for that run (the daemons' defaults in full)
    worker_timer: float
    scaling: list[tuple[int, int]] = field(default_factory=list)  # (engines, workers)
    concurrency: int = 4  # commands per worker process (noetl-worker's default)


QUICK = Plan(
    chain_steps=100,
    fanout_executions=60,
    fanout_steps=5,
    timer_steps=4,
    engine_timer=0.5,
    worker_timer=1.0,
    scaling=[(1, 1), (1, 2), (1, 4), (2, 4)],
)
FULL = Plan(
    chain_steps=300,
    fanout_executions=300,
    fanout_steps=10,
    timer_steps=8,
    engine_timer=2.0,
    worker_timer=5.0,
    scaling=[(1, 1), (1, 2), (1, 4), (2, 1), (2, 2), (2, 4)],
)
TINY = Plan(  # the smoke test: every row of the table, as fast as possible
    chain_steps=5,
    fanout_executions=4,
    fanout_steps=3,
    timer_steps=2,
    engine_timer=0.2,
    worker_timer=0.3,
    scaling=[(1, 1), (1, 2)],
)
PLANS = {"quick": QUICK, "full": FULL, "tiny": TINY}


# --- the database -------------------------------------------------------------------


def with_options(dsn: str, **params: str) -> str:
    return make_conninfo(dsn, **params)


def sync_off(dsn: str) -> str:
    """The same database with synchronous_commit off for every session (via the DSN)."""
    options = conninfo_to_dict(dsn).get("options") or ""
    return with_options(dsn, options=f"{options} -c synchronous_commit=off".strip())


@contextlib.contextmanager
def bench_database(server_dsn: str) -> Iterator[str]:
    """A fresh database on `server_dsn`'s server, migrated; dropped at the end."""
    name = f"noetl_bench_{os.getpid()}_{uuid.uuid4().hex[:6]}"
    with psycopg.connect(server_dsn, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    dsn = with_options(server_dsn, dbname=name)
    try:
        yield dsn
    finally:
        with psycopg.connect(server_dsn, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def prepare(dsn: str) -> None:
    upgrade(dsn)
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(q("baseline_schema"))


def machine() -> dict[str, object]:
    info: dict[str, object] = {
        "cpus": os.cpu_count(),
        "python": platform.python_version(),
        "platform": platform.platform(),
    }
    with contextlib.suppress(OSError):
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                info["memory_gib"] = round(int(line.split()[1]) / 1024 / 1024, 1)
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                info["cpu"] = line.split(":", 1)[1].strip()
                break
    return info


def server(dsn: str) -> dict[str, str]:
    with psycopg.connect(dsn, autocommit=True) as conn:
        settings = ["server_version", "synchronous_commit", "fsync", "shared_buffers"]
        found = {s: conn.execute(f"SHOW {s}").fetchone()[0] for s in settings}
        found["host"] = conninfo_to_dict(dsn).get("host") or "local socket"
    return found


def revision() -> dict[str, object]:
    """Which code was measured: the commit, and whether noetl_pg/ or sql/ had local edits."""
    root = Path(__file__).resolve().parent.parent
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=root, capture_output=True, text=True, check=True
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--", "noetl_pg", "sql"],
            cwd=root,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):  # an exported tree: say what we were told
        return {"commit": os.environ.get("NOETL_BENCH_REVISION", "unknown"), "dirty": None}
    return {"commit": commit, "dirty": bool(dirty)}


def load() -> float:
    return round(os.getloadavg()[0], 2)


# --- the measurements ---------------------------------------------------------------


@dataclass
class Row:
    measure: str
    config: str
    unit: str
    noetl: float
    floor: float | None  # the raw-SQL baseline's figure, when it has one

    @property
    def ratio(self) -> float | None:
        if self.floor is None or not self.floor or math.isnan(self.floor):
            return None
        return self.noetl / self.floor


class Bench:
    def __init__(
        self,
        dsn: str,
        plan: Plan,
        *,
        own_database: bool,
        log_level: str,
        profile: Path | None = None,
    ) -> None:
        self.dsn = dsn
        self.profile = profile
        self.plan = plan
        self.own_database = own_database
        self.log_level = log_level
        self.rows: list[Row] = []
        self.runs: list[dict[str, object]] = []
        self.chain_path = register_chain(dsn, plan.chain_steps)
        self.fanout_path = register_chain(dsn, plan.fanout_steps)
        self.timer_path = register_chain(dsn, plan.timer_steps)

    def _fresh(self) -> None:
        """Empty tables before each fleet, so every phase starts from the same state."""
        if self.own_database:
            with psycopg.connect(self.dsn, autocommit=True) as conn:
                conn.execute(q("truncate_all"))
                conn.execute("VACUUM ANALYZE")

    def _record(self, label: str, config: str, run: Run, **extra: object) -> Run:
        self.runs.append({"run": label, "config": config, **extra, **run.as_dict(), "load": load()})
        print(
            f"  {label:<22} {config:<20} {run.steps_per_s:8.1f} steps/s"
            f"  step p50 {run.step_ms_p50:7.2f} ms  wake p50 {run.wake_ms_p50:7.2f} ms"
            f"  load {load():.2f}",
            file=sys.stderr,
        )
        return run

    def fleet(self, kind: str, dsn: str, engines: int = 1, workers: int = 1, **kw) -> Fleet:
        self._fresh()
        return Fleet(
            kind,
            dsn,
            engines=engines,
            workers=workers,
            concurrency=self.plan.concurrency,
            log_level=self.log_level,
            **kw,
        )

    def chain_and_fanout(self, kind: str, dsn: str, config: str) -> tuple[Run, Run]:
        plan = self.plan
        timeout = 120 + plan.chain_steps
        wrap = []
        if self.profile is not None and kind == "noetl" and dsn == self.dsn:
            self.profile.mkdir(parents=True, exist_ok=True)
            out = str(self.profile / "{name}.txt")
            wrap = ["-m", "pyinstrument", "-r", "text", "-o", out, "--show", "*/noetl_pg/*"]
        with self.fleet(kind, dsn, wrap=wrap) as fleet:
            if kind == "baseline":
                run_baseline(dsn, 4, plan.fanout_steps, fleet.check_alive, timeout)  # warm-up
                chain = run_baseline(dsn, 1, plan.chain_steps, fleet.check_alive, timeout)
                fanout = run_baseline(
                    dsn, plan.fanout_executions, plan.fanout_steps, fleet.check_alive, timeout
                )
            else:
                run_noetl(dsn, self.fanout_path, 4, plan.fanout_steps, fleet.check_alive, timeout)
                chain = run_noetl(
                    dsn, self.chain_path, 1, plan.chain_steps, fleet.check_alive, timeout
                )
                fanout = run_noetl(
                    dsn,
                    self.fanout_path,
                    plan.fanout_executions,
                    plan.fanout_steps,
                    fleet.check_alive,
                    timeout,
                )
        self._record(f"{kind} chain", config, chain)
        self._record(f"{kind} fanout", config, fanout)
        return chain, fanout

    def commit_modes(self) -> None:
        plan = self.plan
        fan = f"{plan.fanout_executions}x{plan.fanout_steps}"
        for mode, dsn in (("on", self.dsn), ("off", sync_off(self.dsn))):
            config = f"sync {mode}, 1E 1W"
            ours_chain, ours_fan = self.chain_and_fanout("noetl", dsn, config)
            base_chain, base_fan = self.chain_and_fanout("baseline", dsn, config)
            n = plan.chain_steps
            self.rows += [
                Row(f"chain {n} steps: throughput", config, "steps/s",
                    ours_chain.steps_per_s, base_chain.steps_per_s),
                Row(f"chain {n} steps: per step", config, "ms",
                    1000 / ours_chain.steps_per_s, 1000 / base_chain.steps_per_s),
                Row(f"fanout {fan}: throughput", config, "steps/s",
                    ours_fan.steps_per_s, base_fan.steps_per_s),
                Row(f"fanout {fan}: step p50", config, "ms",
                    ours_fan.step_ms_p50, base_fan.step_ms_p50),
                Row(f"fanout {fan}: step p99", config, "ms",
                    ours_fan.step_ms_p99, base_fan.step_ms_p99),
                Row("wake, NOTIFY: p50", config, "ms",
                    ours_chain.wake_ms_p50, base_chain.wake_ms_p50),
                Row("wake, NOTIFY: p99", config, "ms",
                    ours_chain.wake_ms_p99, base_chain.wake_ms_p99),
                Row("wake: engine part p50", config, "ms",
                    ours_chain.engine_ms_p50, base_chain.engine_ms_p50),
            ]  # fmt: skip
            if mode == "on":
                self.notify_floor = base_chain

    def timers(self) -> None:
        plan = self.plan
        config = f"timers {plan.engine_timer:g}s/{plan.worker_timer:g}s"
        engine_args = ["--safety-interval", str(plan.engine_timer)]
        worker_args = ["--safety-interval", str(plan.worker_timer)]
        timeout = 60 + plan.timer_steps * (plan.engine_timer + plan.worker_timer) * 2
        with self.fleet(
            "deaf", self.dsn, engine_args=engine_args, worker_args=worker_args
        ) as fleet:
            run = run_noetl(
                self.dsn, self.timer_path, 1, plan.timer_steps, fleet.check_alive, timeout
            )
        self._record("noetl chain, no NOTIFY", config, run)
        floor = self.notify_floor
        self.rows += [
            Row("wake, timers only: p50", config, "ms", run.wake_ms_p50, floor.wake_ms_p50),
            Row("wake, timers only: p99", config, "ms", run.wake_ms_p99, floor.wake_ms_p99),
        ]

    def scaling(self) -> None:
        plan = self.plan
        fan = f"{plan.fanout_executions}x{plan.fanout_steps}"
        timeout = 120 + plan.fanout_executions * plan.fanout_steps / 10
        for engines, workers in plan.scaling:
            config = f"sync on, {engines}E {workers}W"
            figures = []
            for kind in ("noetl", "baseline"):
                with self.fleet(kind, self.dsn, engines, workers) as fleet:
                    if kind == "noetl":
                        shape = (plan.fanout_executions, plan.fanout_steps)
                        run_noetl(self.dsn, self.fanout_path, 4, shape[1], fleet.check_alive, 60)
                        run = run_noetl(self.dsn, self.fanout_path, *shape, fleet.check_alive,
                                        timeout)  # fmt: skip
                    else:
                        run_baseline(self.dsn, 4, plan.fanout_steps, fleet.check_alive, 60)
                        run = run_baseline(self.dsn, plan.fanout_executions, plan.fanout_steps,
                                           fleet.check_alive, timeout)  # fmt: skip
                figures.append(self._record(f"{kind} scaling", config, run))
            self.rows.append(
                Row(f"scaling fanout {fan}", config, "steps/s",
                    figures[0].steps_per_s, figures[1].steps_per_s)
            )  # fmt: skip


# --- output -------------------------------------------------------------------------


def table(rows: list[Row]) -> str:
    header = f"{'measure':<30} {'config':<18} {'unit':<8} {'noetl':>9} {'floor':>9} {'ratio':>7}"
    lines = [header, "-" * len(header)]
    for row in rows:
        floor = "" if row.floor is None else f"{row.floor:9.1f}"
        ratio = "" if row.ratio is None else f"{row.ratio:6.2f}x"
        lines.append(
            f"{row.measure:<30} {row.config:<18} {row.unit:<8} {row.noetl:9.1f}"
            f" {floor:>9} {ratio:>7}"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.run", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="small sizes, under a minute")
    parser.add_argument("--plan", choices=sorted(PLANS), help="quick | full | tiny (smoke)")
    parser.add_argument(
        "--dsn",
        default=os.environ.get("NOETL_BENCH_DSN", LOCAL_DSN),
        help="a PostgreSQL to create the benchmark's own database on (NOETL_BENCH_DSN,"
        " else 127.0.0.1:5432/test); the database is dropped at the end",
    )
    parser.add_argument("--concurrency", type=int, help="commands per worker process (4)")
    parser.add_argument("--log-level", default="WARNING", help="the daemons' (WARNING)")
    parser.add_argument("--out", type=Path, help="JSON results (bench/results/<date>.json)")
    parser.add_argument("--no-write", action="store_true", help="print only")
    parser.add_argument(
        "--profile",
        type=Path,
        help="run noetl's daemons of the 'sync on' chain+fanout under pyinstrument"
        " (pip install pyinstrument) and write their reports to this directory",
    )
    args = parser.parse_args(argv)
    name = args.plan or ("quick" if args.quick else "full")
    plan = PLANS[name]
    if args.concurrency:
        plan = Plan(**{**asdict(plan), "concurrency": args.concurrency})
    started = time.monotonic()
    load_before = load()
    print(f"plan {name}: {plan}; load {load_before}", file=sys.stderr)
    with bench_database(args.dsn) as dsn:
        prepare(dsn)
        bench = Bench(dsn, plan, own_database=True, log_level=args.log_level, profile=args.profile)
        bench.commit_modes()
        bench.timers()
        bench.scaling()
        info = server(dsn)
    elapsed = time.monotonic() - started
    print(table(bench.rows))
    print(
        f"\nplan {name}, {elapsed:.0f}s, load {load_before} before / {load()} after;"
        f" PostgreSQL {info['server_version']}, {os.cpu_count()} cpus."
        " ratio = noetl / floor (raw SQL, same round trips)"
    )
    document = {
        "date": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "plan": name,
        "settings": asdict(plan),
        "log_level": args.log_level,
        "revision": revision(),
        "machine": machine(),
        "server": info,
        "load": {"before": load_before, "after": load()},
        "seconds": round(elapsed, 1),
        "table": [{**asdict(r), "ratio": r.ratio} for r in bench.rows],
        "runs": bench.runs,
    }
    if not args.no_write:
        suffix = "" if name == "full" else f"-{name}"
        out = args.out or RESULTS / f"{dt.date.today().isoformat()}{suffix}.json"
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps(document, indent=2) + "\n")
        print(f"results: {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
