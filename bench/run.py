"""`python -m bench.run [--quick] [--dsn DSN]`: noetl's throughput and latency on both of
its paths, next to raw-SQL floors doing the same round trips and to DBOS and
procrastinate doing the same no-op work, on one PostgreSQL, printed as one table and
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
from bench.paths import (
    FAST,
    FAST_PATH_ENV,
    FAST_PATH_FLAG,
    NOT_IN_BUILD,
    PATHS,
    TWO_HOPS,
    StepPath,
    fast_path_in_build,
)
from bench.peers import DBOS, NOT_INSTALLED, PROCRASTINATE, Peer
from bench.sql import q
from bench.workloads import Run, register_chain, run_baseline, run_noetl, run_noetl_drift
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
    long_chain_steps: int  # the chain whose first and last tenth are compared
    dbos_sequential: int  # DBOS workflows of 10 no-op steps, one after another ...
    dbos_threaded: int  # ... and from `dbos_threads` threads
    procrastinate_jobs: int  # no-op jobs, deferred at once
    idle_seconds: float  # how long idle daemons' commits are counted, after ...
    idle_settle: float  # ... this long for their start-up work to end
    scaling: list[tuple[int, int]] = field(default_factory=list)  # (engines, workers)
    concurrency: int = 4  # commands per worker process (noetl-worker's default)
    floor_batch: int = 10  # the batched one-transaction floor: commands per lease and report
    dbos_threads: int = 4
    procrastinate_concurrency: int = 10

    @property
    def drift_window(self) -> int:
        return self.long_chain_steps // 10


QUICK = Plan(
    chain_steps=100,
    fanout_executions=60,
    fanout_steps=5,
    timer_steps=4,
    engine_timer=0.5,
    worker_timer=1.0,
    long_chain_steps=600,
    dbos_sequential=10,
    dbos_threaded=30,
    procrastinate_jobs=300,
    idle_seconds=10,
    idle_settle=2,
    scaling=[(1, 1), (1, 2), (1, 4), (2, 4)],
)
FULL = Plan(
    chain_steps=300,
    fanout_executions=300,
    fanout_steps=10,
    timer_steps=8,
    engine_timer=2.0,
    worker_timer=5.0,
    long_chain_steps=3000,
    dbos_sequential=30,  # 300 steps, as the chain
    dbos_threaded=300,  # 3,000 steps, as the fan-out
    procrastinate_jobs=3000,
    idle_seconds=30,
    idle_settle=5,
    scaling=[(1, 1), (1, 2), (1, 4), (2, 1), (2, 2), (2, 4)],
)
TINY = Plan(  # the smoke test: every row of the table, as fast as possible
    chain_steps=5,
    fanout_executions=4,
    fanout_steps=3,
    timer_steps=2,
    engine_timer=0.2,
    worker_timer=0.3,
    long_chain_steps=20,
    dbos_sequential=1,
    dbos_threaded=2,
    procrastinate_jobs=12,
    idle_seconds=1,
    idle_settle=0.5,
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
def bench_database(server_dsn: str, label: str = "") -> Iterator[str]:
    """A fresh, empty database on `server_dsn`'s server; dropped at the end."""
    name = f"noetl_bench_{label + '_' if label else ''}{os.getpid()}_{uuid.uuid4().hex[:6]}"
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
    config: str  # the sync mode, daemons and path (or floor) the value belongs to
    unit: str
    value: float | None  # None: not measured (see note)
    against: str  # what the value is compared with: a floor, a peer, the chain's start
    reference: float | None  # its figure; None: not measured (see note)
    note: str | None = None  # why a figure is missing

    @property
    def ratio(self) -> float | None:
        if self.value is None or not self.reference or math.isnan(self.reference):
            return None
        return self.value / self.reference


FLOOR = "floor"  # the two-hop raw-SQL floor (bench/baseline.py)
FLOOR_ONE_TX = "floor, one tx"  # the one-transaction floor (bench/floor_one_tx.py)
FLOOR_NAMES = {TWO_HOPS.floor: FLOOR, FAST.floor: FLOOR_ONE_TX}
HOP_NOT_STAMPED = (
    "not in the rows: the next command's started_at precedes the call.done (see step period)"
)


class Bench:
    def __init__(
        self,
        server_dsn: str,
        dsn: str,
        plan: Plan,
        *,
        own_database: bool,
        log_level: str,
        profile: Path | None = None,
        peers: bool = True,
    ) -> None:
        self.server_dsn = server_dsn
        self.dsn = dsn
        self.profile = profile
        self.plan = plan
        self.own_database = own_database
        self.log_level = log_level
        self.with_peers = peers
        self.fast_path = fast_path_in_build()
        self.rows: list[Row] = []
        self.runs: list[dict[str, object]] = []
        self.peers: dict[str, object] = {}
        # (sync mode, path label) -> (chain, fan-out); (sync mode, floor label) -> the same
        # (no chain for the batched floor)
        self.ours: dict[tuple[str, str], tuple[Run, Run]] = {}
        self.floors: dict[tuple[str, str], tuple[Run | None, Run]] = {}
        sizes = {plan.chain_steps, plan.fanout_steps, plan.timer_steps, plan.long_chain_steps}
        self.chains = {steps: register_chain(dsn, steps) for steps in sizes}  # steps -> path

    @property
    def batched_floor(self) -> str:
        return f"{FLOOR_ONE_TX}, x{self.plan.floor_batch}"

    @property
    def fan(self) -> str:
        return f"{self.plan.fanout_executions}x{self.plan.fanout_steps}"

    def available(self, path: StepPath) -> bool:
        return self.fast_path or not path.fast

    def _fresh(self) -> None:
        """Empty tables before each fleet, so every phase starts from the same state."""
        if self.own_database:
            with psycopg.connect(self.dsn, autocommit=True) as conn:
                conn.execute(q("truncate_all"))
                conn.execute("VACUUM ANALYZE")

    def _record(self, label: str, config: str, run: Run, **extra: object) -> Run:
        self.runs.append({"run": label, "config": config, **extra, **run.as_dict(), "load": load()})
        print(
            f"  {label:<26} {config:<34} {run.steps_per_s:8.1f} steps/s"
            f"  step p50 {run.step_ms_p50:7.2f} ms  wake p50 {run.wake_ms_p50:7.2f} ms"
            f"  load {load():.2f}",
            file=sys.stderr,
        )
        return run

    def fleet(self, kind: str, dsn: str, engines: int = 1, workers: int = 1, **kw) -> Fleet:
        self._fresh()
        kw.setdefault("concurrency", self.plan.concurrency)
        return Fleet(kind, dsn, engines=engines, workers=workers, log_level=self.log_level, **kw)

    def path_fleet(self, path: StepPath, dsn: str, engines: int = 1, workers: int = 1, **kw):
        """noetl's daemons, the worker on `path`."""
        return self.fleet(
            "noetl", dsn, engines, workers, env=path.env(), worker_args=path.worker_args(), **kw
        )

    def run_shape(self, kind: str, fleet: Fleet, dsn: str, executions: int, steps: int) -> Run:
        timeout = 120 + executions * steps / 10
        if kind == "noetl":
            path = self.chains[steps]
            return run_noetl(dsn, path, executions, steps, fleet.check_alive, timeout)
        return run_baseline(dsn, executions, steps, fleet.check_alive, timeout)

    def chain_and_fanout(
        self, kind: str, dsn: str, config: str, fleet: Fleet, *, chain: bool = True
    ) -> tuple[Run | None, Run]:
        """A warm-up, then (unless not `chain`) the chain, then the fan-out, on `fleet`."""
        plan = self.plan
        with fleet:
            self.run_shape(kind, fleet, dsn, 4, plan.fanout_steps)
            chained = self.run_shape(kind, fleet, dsn, 1, plan.chain_steps) if chain else None
            fanned = self.run_shape(kind, fleet, dsn, plan.fanout_executions, plan.fanout_steps)
        name = "noetl" if kind == "noetl" else config.split(", ", 2)[-1]
        if chained is not None:
            self._record(f"{name} chain", config, chained)
        self._record(f"{name} fanout", config, fanned)
        return chained, fanned

    def _profile_wrap(self, path: StepPath) -> list[str]:
        if self.profile is None:
            return []
        self.profile.mkdir(parents=True, exist_ok=True)
        out = str(self.profile / f"{{name}}-{path.label.replace(' ', '-')}.txt")
        return ["-m", "pyinstrument", "-r", "text", "-o", out, "--show", "*/noetl_pg/*"]

    def commit_modes(self) -> None:
        plan = self.plan
        n, fan = plan.chain_steps, self.fan
        for mode, dsn in (("on", self.dsn), ("off", sync_off(self.dsn))):
            base = f"sync {mode}, 1E 1W"
            for kind in (TWO_HOPS.floor, FAST.floor):
                label = FLOOR_NAMES[kind]
                config = f"{base}, {label}"
                self.floors[(mode, label)] = self.chain_and_fanout(
                    kind, dsn, config, self.fleet(kind, dsn)
                )
            batched = self.fleet(
                FAST.floor,
                dsn,
                concurrency=plan.floor_batch,
                worker_args=["--batch", str(plan.floor_batch)],
            )
            config = f"{base}, {self.batched_floor}"
            self.floors[(mode, self.batched_floor)] = self.chain_and_fanout(
                FAST.floor, dsn, config, batched, chain=False
            )
            self._floor_rows(mode)
            for path in PATHS:
                if self.available(path):
                    wrap = self._profile_wrap(path) if mode == "on" else []
                    fleet = self.path_fleet(path, dsn, wrap=wrap)
                    chained, fanned = self.chain_and_fanout(
                        "noetl", dsn, f"{base}, {path.label}", fleet
                    )
                    assert chained is not None
                    self.ours[(mode, path.label)] = (chained, fanned)
            for path in PATHS:
                config = f"{base}, {path.label}"
                if not self.available(path):
                    self.rows += [
                        Row(f"chain {n} steps: throughput", config, "steps/s", None, "",
                            None, NOT_IN_BUILD),
                        Row(f"fanout {fan}: throughput", config, "steps/s", None, "",
                            None, NOT_IN_BUILD),
                    ]  # fmt: skip
                else:
                    self._path_rows(mode, config, path, *self.ours[(mode, path.label)])

    def _floor_rows(self, mode: str) -> None:
        """What one transaction per step, and batching, buy at the floor."""
        (two_hops_chain, two_hops_fan), (one_tx_chain, one_tx_fan) = (
            self.floors[(mode, FLOOR)],
            self.floors[(mode, FLOOR_ONE_TX)],
        )
        batched_fan = self.floors[(mode, self.batched_floor)][1]
        assert two_hops_chain is not None and one_tx_chain is not None
        n, fan = self.plan.chain_steps, self.fan
        self.rows += [
            Row(f"chain {n} steps: throughput", f"sync {mode}, {FLOOR_ONE_TX}", "steps/s",
                one_tx_chain.steps_per_s, FLOOR, two_hops_chain.steps_per_s),
            Row(f"fanout {fan}: throughput", f"sync {mode}, {FLOOR_ONE_TX}", "steps/s",
                one_tx_fan.steps_per_s, FLOOR, two_hops_fan.steps_per_s),
            Row(f"fanout {fan}: throughput", f"sync {mode}, {self.batched_floor}", "steps/s",
                batched_fan.steps_per_s, FLOOR_ONE_TX, one_tx_fan.steps_per_s),
        ]  # fmt: skip

    def _path_rows(self, mode: str, config: str, path: StepPath, chain: Run, fanout: Run) -> None:
        """noetl on one path against the floor of the same round trips."""
        against = FLOOR_NAMES[path.floor]
        floor_chain, floor_fan = self.floors[(mode, against)]
        assert floor_chain is not None
        n, fan = self.plan.chain_steps, self.fan
        self.rows += [
            Row(f"chain {n} steps: throughput", config, "steps/s",
                chain.steps_per_s, against, floor_chain.steps_per_s),
            Row(f"chain {n} steps: per step", config, "ms",
                1000 / chain.steps_per_s, against, 1000 / floor_chain.steps_per_s),
            Row(f"fanout {fan}: throughput", config, "steps/s",
                fanout.steps_per_s, against, floor_fan.steps_per_s),
            Row(f"fanout {fan}: step p50", config, "ms",
                fanout.step_ms_p50, against, floor_fan.step_ms_p50),
            Row(f"fanout {fan}: step p99", config, "ms",
                fanout.step_ms_p99, against, floor_fan.step_ms_p99),
            Row("step period: p50", config, "ms",
                chain.period_ms_p50, against, floor_chain.period_ms_p50),
            Row("step period: p99", config, "ms",
                chain.period_ms_p99, against, floor_chain.period_ms_p99),
        ]  # fmt: skip
        if path.fast:
            # The one-transaction floor's hop is inside one statement (about 0 ms): compare
            # the fast path's hop with the two-hop path's instead, and its fan-out with the
            # batched floor too.
            two_hops_chain = self.ours[(mode, TWO_HOPS.label)][0]
            batch = self.floors[(mode, self.batched_floor)][1]
            self.rows.append(
                Row(f"fanout {fan}: throughput", config, "steps/s",
                    fanout.steps_per_s, self.batched_floor, batch.steps_per_s)
            )  # fmt: skip
            # A hop at or below 0 ms says the next command's started_at was stamped inside
            # the report's transaction, before the call.done: the rows do not show the hop.
            stamped = chain.wake_ms_p50 > 0
            for p, ours, theirs in (
                ("p50", chain.wake_ms_p50, two_hops_chain.wake_ms_p50),
                ("p99", chain.wake_ms_p99, two_hops_chain.wake_ms_p99),
            ):
                self.rows.append(
                    Row(f"hop: {p}", config, "ms", ours if stamped else None, TWO_HOPS.label,
                        theirs, None if stamped else HOP_NOT_STAMPED)
                )  # fmt: skip
        else:
            self.rows += [
                Row("hop: p50", config, "ms",
                    chain.wake_ms_p50, against, floor_chain.wake_ms_p50),
                Row("hop: p99", config, "ms",
                    chain.wake_ms_p99, against, floor_chain.wake_ms_p99),
                Row("wake: engine part p50", config, "ms",
                    chain.engine_ms_p50, against, floor_chain.engine_ms_p50),
            ]  # fmt: skip

    # --- the peers (sync on only: their own defaults) ------------------------------

    def _run_peer(self, peer: Peer, args: list[str], timeout: float) -> dict | None:
        if not peer.installed:
            self.peers[peer.name] = NOT_INSTALLED
            print(f"  {peer.name}: {NOT_INSTALLED}", file=sys.stderr)
            return None
        try:
            with bench_database(self.server_dsn, label=peer.package) as dsn:
                figures = peer.run(dsn, args, timeout)
        except (RuntimeError, subprocess.TimeoutExpired) as failed:  # the rest still counts
            self.peers[peer.name] = f"failed ({type(failed).__name__}, see the log)"
            print(f"  {peer.name} failed: {failed}", file=sys.stderr)
            return None
        self.peers[peer.name] = figures
        print(f"  {peer.name}: {json.dumps(figures)}  load {load():.2f}", file=sys.stderr)
        return figures

    def peer_rows(self) -> None:
        plan = self.plan
        dbos = self._run_peer(
            DBOS,
            ["--sequential", str(plan.dbos_sequential), "--threaded", str(plan.dbos_threaded),
             "--threads", str(plan.dbos_threads)],
            timeout=300 + plan.dbos_threaded,
        )  # fmt: skip
        procrastinate = self._run_peer(
            PROCRASTINATE,
            ["--jobs", str(plan.procrastinate_jobs),
             "--concurrency", str(plan.procrastinate_concurrency)],
            timeout=300 + plan.procrastinate_jobs / 10,
        )  # fmt: skip
        chain = f"chain {plan.chain_steps} steps: throughput"
        fan = f"fanout {self.fan}: throughput"
        compared = [
            (chain, "DBOS sequential", dbos and dbos["sequential"]["steps_per_s"], DBOS),
            (fan, f"DBOS {plan.dbos_threads} threads", dbos and dbos["threaded"]["steps_per_s"],
             DBOS),
            (fan, f"procrastinate c{plan.procrastinate_concurrency}",
             procrastinate and procrastinate["jobs_per_s"], PROCRASTINATE),
        ]  # fmt: skip
        subjects: list[tuple[str, Run | None, Run]] = [
            (f"sync on, 1E 1W, {label}", *self.ours[("on", label)])
            for label in (p.label for p in PATHS)
            if ("on", label) in self.ours
        ]
        floors = [(f"sync on, {label}", *self.floors[("on", label)])
                  for label in (FLOOR, FLOOR_ONE_TX, self.batched_floor)]  # fmt: skip
        for measure, against, figure, peer in compared:
            note = None if figure is not None else f"{peer.name} {self.peers[peer.name]}"
            for config, chained, fanned in subjects + (floors if figure is not None else []):
                run = chained if measure == chain else fanned
                if run is not None:  # the batched floor runs no chain
                    self.rows.append(
                        Row(measure, config, "steps/s", run.steps_per_s, against, figure, note)
                    )

    # --- cost late in a long chain ----------------------------------------------------

    def drift(self) -> None:
        plan = self.plan
        n, window = plan.long_chain_steps, plan.drift_window
        measure = f"chain {n} steps: last {window} / first {window}"
        for path in PATHS:
            config = f"sync on, 1E 1W, {path.label}"
            if not self.available(path):
                self.rows.append(Row(measure, config, "ms/step", None, "", None, NOT_IN_BUILD))
                continue
            with self.path_fleet(path, self.dsn) as fleet:
                self.run_shape("noetl", fleet, self.dsn, 1, plan.fanout_steps)  # warm-up
                drift = run_noetl_drift(
                    self.dsn, self.chains[n], n, window, fleet.check_alive, 120 + n
                )
            self.runs.append({"run": "noetl long chain", "config": config, **asdict(drift),
                              "ratio": drift.ratio, "load": load()})  # fmt: skip
            print(
                f"  {'noetl long chain':<26} {config:<34} first {window} {drift.first_ms:.2f}"
                f" ms/step, last {window} {drift.last_ms:.2f} ms/step  load {load():.2f}",
                file=sys.stderr,
            )
            self.rows.append(
                Row(measure, config, "ms/step", drift.last_ms, f"first {window} steps",
                    drift.first_ms)
            )  # fmt: skip

    # --- idle; without NOTIFY; with more processes ------------------------------------

    def _idle_rate(self, fleet: Fleet) -> float:
        """Transactions per second the database sees while `fleet` has nothing to do."""
        plan = self.plan
        with fleet, psycopg.connect(self.dsn, autocommit=True) as conn:
            time.sleep(plan.idle_settle)
            before, started = conn.execute(q("transactions")).fetchone()[0], time.monotonic()
            time.sleep(plan.idle_seconds)
            after, ended = conn.execute(q("transactions")).fetchone()[0], time.monotonic()
        return max(0, after - before - 1) / (ended - started)  # less our own first read

    def idle(self) -> None:
        config_floor = "sync on, 1E 1W, floor"
        floor = self._idle_rate(self.fleet(TWO_HOPS.floor, self.dsn))
        self.runs.append({"run": "floor idle", "config": config_floor, "tx_per_s": floor,
                          "seconds": self.plan.idle_seconds, "load": load()})  # fmt: skip
        for path in PATHS:
            config = f"sync on, 1E 1W, {path.label}"
            measure = "idle engine + worker: commits"
            if not self.available(path):
                self.rows.append(Row(measure, config, "tx/s", None, "", None, NOT_IN_BUILD))
                continue
            rate = self._idle_rate(self.path_fleet(path, self.dsn))
            self.runs.append({"run": "noetl idle", "config": config, "tx_per_s": rate,
                              "seconds": self.plan.idle_seconds, "load": load()})  # fmt: skip
            print(f"  {'noetl idle':<26} {config:<34} {rate:.2f} tx/s, floor {floor:.2f} tx/s",
                  file=sys.stderr)  # fmt: skip
            self.rows.append(Row(measure, config, "tx/s", rate, FLOOR, floor))

    def timers(self) -> None:
        plan = self.plan
        config = f"timers {plan.engine_timer:g}s/{plan.worker_timer:g}s, {TWO_HOPS.label}"
        engine_args = ["--safety-interval", str(plan.engine_timer)]
        worker_args = ["--safety-interval", str(plan.worker_timer)]
        timeout = 60 + plan.timer_steps * (plan.engine_timer + plan.worker_timer) * 2
        with self.fleet(
            "deaf", self.dsn, engine_args=engine_args, worker_args=worker_args,
            env=TWO_HOPS.env(),
        ) as fleet:  # fmt: skip
            run = run_noetl(
                self.dsn, self.chains[plan.timer_steps], 1, plan.timer_steps, fleet.check_alive,
                timeout,
            )  # fmt: skip
        self._record("noetl chain, no NOTIFY", config, run)
        floor = self.floors[("on", FLOOR)][0]
        assert floor is not None
        self.rows += [
            Row("wake, timers only: p50", config, "ms", run.wake_ms_p50, FLOOR, floor.wake_ms_p50),
            Row("wake, timers only: p99", config, "ms", run.wake_ms_p99, FLOOR, floor.wake_ms_p99),
        ]

    def scaling(self) -> None:
        """The fan-out with more processes, on the best path this build has."""
        plan = self.plan
        path = FAST if self.fast_path else TWO_HOPS
        against = FLOOR_NAMES[path.floor]
        shape = (plan.fanout_executions, plan.fanout_steps)
        for engines, workers in plan.scaling:
            config = f"sync on, {engines}E {workers}W, {path.label}"
            figures = []
            for kind in ("noetl", path.floor):
                if kind == "noetl":
                    fleet = self.path_fleet(path, self.dsn, engines, workers)
                else:
                    fleet = self.fleet(kind, self.dsn, engines, workers)
                with fleet:
                    self.run_shape(kind, fleet, self.dsn, 4, plan.fanout_steps)
                    run = self.run_shape(kind, fleet, self.dsn, *shape)
                figures.append(self._record(f"{kind} scaling", config, run))
            self.rows.append(
                Row(f"scaling fanout {self.fan}", config, "steps/s",
                    figures[0].steps_per_s, against, figures[1].steps_per_s)
            )  # fmt: skip


# --- output -------------------------------------------------------------------------


def _figure(value: float | None) -> str:
    return "" if value is None else f"{value:9.1f}"


def table(rows: list[Row]) -> str:
    header = (
        f"{'measure':<40} {'config':<34} {'unit':<8} {'value':>9}  {'against':<22}"
        f" {'reference':>9} {'ratio':>7}"
    )
    lines = [header, "-" * len(header)]
    for row in rows:
        start = f"{row.measure:<40} {row.config:<34} {row.unit:<8}"
        if row.value is None:
            lines.append(f"{start} {row.note}")
            continue
        ratio = "" if row.ratio is None else f"{row.ratio:6.2f}x"
        reference = row.note if row.reference is None else f"{_figure(row.reference):>9} {ratio:>7}"
        lines.append(f"{start} {_figure(row.value)}  {row.against:<22} {reference}")
    return "\n".join(lines)


def footer(bench: Bench) -> str:
    if bench.fast_path:
        paths = (
            f"fast path / two hops: the worker with {FAST_PATH_ENV}=1 / =0 (and {FAST_PATH_FLAG});"
            " a worker with the switch but not yet the path measures the same in both"
        )
    else:
        paths = (
            f"fast path: {NOT_IN_BUILD} (noetl_pg.worker.daemon --help has no {FAST_PATH_FLAG});"
            " every noetl row is the two-hop path"
        )
    peers = ", ".join(
        f"{name} {figures if isinstance(figures, str) else 'measured'}"
        for name, figures in bench.peers.items()
    )
    return "\n".join(
        [
            "ratio = value / reference. floor: raw SQL, the two-hop round trips;"
            f" {FLOOR_ONE_TX}: raw SQL, report + apply + next command leased in one commit;"
            f" {bench.batched_floor}: the same, {bench.plan.floor_batch} commands per statement.",
            paths + ".",
            f"peers (own database each, sync on): {peers or 'skipped (--no-peers)'}.",
        ]
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.run", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="small sizes, under a minute")
    parser.add_argument("--plan", choices=sorted(PLANS), help="quick | full | tiny (smoke)")
    parser.add_argument(
        "--dsn",
        default=os.environ.get("NOETL_BENCH_DSN", LOCAL_DSN),
        help="a PostgreSQL to create the benchmark's own databases on (NOETL_BENCH_DSN,"
        " else 127.0.0.1:5432/test); they are dropped at the end",
    )
    parser.add_argument("--concurrency", type=int, help="commands per worker process (4)")
    parser.add_argument("--log-level", default="WARNING", help="the daemons' (WARNING)")
    parser.add_argument("--out", type=Path, help="JSON results (bench/results/<date>.json)")
    parser.add_argument("--no-write", action="store_true", help="print only")
    parser.add_argument("--no-peers", action="store_true", help="skip DBOS and procrastinate")
    parser.add_argument(
        "--profile",
        type=Path,
        help="run noetl's daemons of the 'sync on' chain+fanout under pyinstrument"
        " (pip install -e '.[bench]') and write their reports to this directory",
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
        bench = Bench(
            args.dsn,
            dsn,
            plan,
            own_database=True,
            log_level=args.log_level,
            profile=args.profile,
            peers=not args.no_peers,
        )
        bench.commit_modes()
        if bench.with_peers:
            bench.peer_rows()
        bench.drift()
        bench.idle()
        bench.timers()
        bench.scaling()
        info = server(dsn)
    elapsed = time.monotonic() - started
    print(table(bench.rows))
    print(
        f"\nplan {name}, {elapsed:.0f}s, load {load_before} before / {load()} after;"
        f" PostgreSQL {info['server_version']}, {os.cpu_count()} cpus.\n{footer(bench)}"
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
        "fast_path_in_build": bench.fast_path,
        "peers": bench.peers,
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
