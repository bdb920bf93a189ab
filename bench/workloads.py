"""The workloads (chains of noop steps) for noetl and for the baseline, and what they
measure, read back from the rows' own timestamps (never from the client's clock)."""

from __future__ import annotations

import itertools
import time
from dataclasses import asdict, dataclass

import psycopg

from bench.sql import q
from noetl_pg.store.db import connect
from tests.support.catalog import register_playbook

_serial = itertools.count(1)


def chain_playbook(steps: int) -> str:
    """A playbook of `steps` noop steps (start, s1, s2, ...), each passing a number on to
    the next, so every step renders one template as real playbooks do."""
    lines = [
        "apiVersion: noetl.io/v2",
        "kind: Playbook",
        f"metadata: {{name: bench-chain-{steps}, path: bench/chain-{steps}}}",
        "workflow:",
    ]
    names = ["start", *(f"s{k}" for k in range(1, steps))]
    for k, name in enumerate(names):
        value = "0" if k == 0 else f'"{{{{ {names[k - 1]}.n + 1 }}}}"'
        lines += [f"  - step: {name}", f"    args: {{n: {value}}}", "    tool: {kind: noop}"]
        if k + 1 < steps:
            lines.append(f"    next: {names[k + 1]}")
    return "\n".join(lines) + "\n"


def register_chain(dsn: str, steps: int) -> str:
    with connect(dsn, autocommit=True) as conn:
        return register_playbook(conn, chain_playbook(steps)).path


@dataclass
class Run:
    """What one run of M executions of K steps measured."""

    executions: int
    steps: int  # per execution
    seconds: float  # first start inserted -> last execution finished
    steps_per_s: float
    step_ms_p50: float  # step entered -> step exited
    step_ms_p99: float
    step_ms_mean: float
    wake_ms_p50: float  # report inserted -> next command leased
    wake_ms_p99: float
    engine_ms_p50: float  # report inserted -> next command written by the engine
    engine_ms_p99: float
    period_ms_p50: float  # report inserted -> the same execution's next report inserted
    period_ms_p99: float

    def as_dict(self) -> dict[str, float]:
        return asdict(self)


def percentile(values: list[float], p: float) -> float:
    """Linear interpolation between closest ranks (p in 0..100)."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    rank = (len(ordered) - 1) * p / 100
    low = int(rank)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


def _summary(executions, steps, seconds, step_ms, wakes, periods) -> Run:
    wake_ms = [w[0] for w in wakes]
    engine_ms = [w[1] for w in wakes]
    return Run(
        executions=executions,
        steps=steps,
        seconds=seconds,
        steps_per_s=executions * steps / seconds,
        step_ms_p50=percentile(step_ms, 50),
        step_ms_p99=percentile(step_ms, 99),
        step_ms_mean=sum(step_ms) / len(step_ms),
        wake_ms_p50=percentile(wake_ms, 50),
        wake_ms_p99=percentile(wake_ms, 99),
        engine_ms_p50=percentile(engine_ms, 50),
        engine_ms_p99=percentile(engine_ms, 99),
        period_ms_p50=percentile(periods, 50),
        period_ms_p99=percentile(periods, 99),
    )


def _wait(conn, sql: str, ids: list[str], timeout: float, check) -> None:
    deadline = time.monotonic() + timeout
    while True:
        row = conn.execute(sql, {"ids": ids}).fetchone()
        if row[0] >= len(ids):
            if len(row) > 1 and row[1]:
                raise RuntimeError(f"{row[1]} of {len(ids)} executions did not complete")
            return
        check()
        if time.monotonic() > deadline:
            raise RuntimeError(f"only {row[0]} of {len(ids)} executions ended in {timeout:g}s")
        time.sleep(0.05)


def _start_and_wait(dsn: str, path: str, executions: int, timeout: float, check) -> list[str]:
    """Start `executions` of the chain at `path` in one statement and wait for all to end."""
    ids = [f"bench-{next(_serial)}-{i}" for i in range(executions)]
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(q("ours_start"), {"ids": ids, "path": path})
        _wait(conn, q("ours_finished"), ids, timeout, check)
    return ids


def run_noetl(dsn: str, path: str, executions: int, steps: int, check, timeout: float) -> Run:
    """Start `executions` of the chain at `path` at once, wait for all, measure."""
    ids = _start_and_wait(dsn, path, executions, timeout, check)
    with psycopg.connect(dsn, autocommit=True) as conn:
        seconds = conn.execute(q("ours_span"), {"ids": ids}).fetchone()[0]
        step_ms = [r[0] for r in conn.execute(q("ours_step_latencies"), {"ids": ids})]
        wakes = conn.execute(q("ours_wakes"), {"ids": ids}).fetchall()
        periods = [r[0] for r in conn.execute(q("ours_periods"), {"ids": ids})]
    if len(step_ms) != executions * steps:
        raise RuntimeError(f"expected {executions * steps} steps, measured {len(step_ms)}")
    return _summary(executions, steps, seconds, step_ms, wakes, periods)


@dataclass
class Drift:
    """Whether a step costs more late in a long chain: ms per step of its first and last
    `window` steps (first step.enter to last step.exit of the window, over its size)."""

    steps: int
    window: int
    first_ms: float
    last_ms: float

    @property
    def ratio(self) -> float:
        return self.last_ms / self.first_ms


def run_noetl_drift(dsn: str, path: str, steps: int, window: int, check, timeout: float) -> Drift:
    """Run one chain of `steps` at `path` and compare its first and last `window` steps."""
    if not 0 < window <= steps // 2:
        raise ValueError(f"window {window} must be in 1..{steps // 2} for a {steps}-step chain")
    (execution_id,) = _start_and_wait(dsn, path, 1, timeout, check)
    with psycopg.connect(dsn, autocommit=True) as conn:
        times = conn.execute(q("ours_step_times"), {"id": execution_id}).fetchall()
    if [t[0] for t in times] != list(range(steps)):
        raise RuntimeError(f"expected steps 0..{steps - 1} entered and exited, got {len(times)}")

    def per_step_ms(rows: list[tuple]) -> float:
        return (rows[-1][2] - rows[0][1]) * 1000 / len(rows)

    return Drift(steps, window, per_step_ms(times[:window]), per_step_ms(times[-window:]))


def run_baseline(dsn: str, executions: int, steps: int, check, timeout: float) -> Run:
    """The same shape through the baseline's tables."""
    ids = [f"base-{next(_serial)}-{i}" for i in range(executions)]
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(q("baseline_start"), {"ids": ids, "steps": steps})
        _wait(conn, q("baseline_finished"), ids, timeout, check)
        seconds = conn.execute(q("baseline_span"), {"ids": ids}).fetchone()[0]
        step_ms = [r[0] for r in conn.execute(q("baseline_step_latencies"), {"ids": ids})]
        wakes = conn.execute(q("baseline_wakes"), {"ids": ids}).fetchall()
        periods = [r[0] for r in conn.execute(q("baseline_periods"), {"ids": ids})]
    if len(step_ms) != executions * steps:
        raise RuntimeError(f"expected {executions * steps} steps, measured {len(step_ms)}")
    return _summary(executions, steps, seconds, step_ms, wakes, periods)
