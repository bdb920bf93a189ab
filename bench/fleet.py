"""Daemon processes for one measurement: noetl's (or the baseline's) engines and workers."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import psycopg

from bench.sql import q

# Which module runs each daemon. noetl's own entry points when notifications are on;
# bench.deaf (the same classes, notifications ignored) for the safety-timer path.
MODULES = {
    ("noetl", "engine"): ["noetl_pg.engine.daemon"],
    ("noetl", "worker"): ["noetl_pg.worker.daemon"],
    ("deaf", "engine"): ["bench.deaf", "engine"],
    ("deaf", "worker"): ["bench.deaf", "worker"],
    ("baseline", "engine"): ["bench.baseline", "engine"],
    ("baseline", "worker"): ["bench.baseline", "worker"],
    ("one_tx", "engine"): ["bench.baseline", "engine"],
    ("one_tx", "worker"): ["bench.floor_one_tx"],
}
# The LISTEN connection each daemon opens (Notifier names it `<name>-listen`).
LISTENERS = {
    "noetl": "%-listen",
    "deaf": "%-listen",
    "baseline": "bench-base-%-listen",
    "one_tx": "bench-%-listen",
}


@dataclass
class Fleet:
    """E engines and W workers of one kind, started together, stopped together."""

    kind: str  # noetl | deaf | baseline | one_tx
    dsn: str
    engines: int = 1
    workers: int = 1
    concurrency: int = 4
    log_level: str = "WARNING"
    engine_args: list[str] = field(default_factory=list)
    worker_args: list[str] = field(default_factory=list)
    wrap: list[str] = field(default_factory=list)  # e.g. a profiler: [-m, pyinstrument, ...]
    env: dict[str, str] = field(default_factory=dict)  # more environment for every daemon
    processes: list[subprocess.Popen[bytes]] = field(default_factory=list)
    log_dir: Path = field(default_factory=lambda: Path(tempfile.mkdtemp(prefix="noetl-bench-")))

    def __enter__(self) -> Fleet:
        env = {**os.environ, **self.env, "NOETL_DSN": self.dsn, "NOETL_LOG_LEVEL": self.log_level}
        worker_args = ["--concurrency", str(self.concurrency), *self.worker_args]
        roles = [("engine", self.engine_args)] * self.engines
        roles += [("worker", worker_args)] * self.workers
        for index, (role, args) in enumerate(roles):
            module = MODULES[(self.kind, role)]
            wrap = [arg.replace("{name}", f"{role}-{index}") for arg in self.wrap]
            command = [sys.executable, *wrap, "-m", *module, *args]
            with open(self.log_dir / f"{self.kind}-{role}-{index}.log", "wb") as log:
                self.processes.append(
                    subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT)
                )
        self._wait_listening()
        return self

    def __exit__(self, *exc: object) -> None:
        for process in self.processes:
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        for process in self.processes:
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()

    def _wait_listening(self, timeout: float = 30.0) -> None:
        expected = len(self.processes)
        deadline = time.monotonic() + timeout
        with psycopg.connect(self.dsn, autocommit=True) as conn:
            while True:
                self.check_alive()
                row = conn.execute(q("listeners"), {"pattern": LISTENERS[self.kind]}).fetchone()
                if row[0] >= expected:
                    return
                if time.monotonic() > deadline:
                    raise RuntimeError(
                        f"{self.kind}: {row[0]} of {expected} daemons listening after"
                        f" {timeout:g}s; logs in {self.log_dir}"
                    )
                time.sleep(0.05)

    def check_alive(self) -> None:
        for process in self.processes:
            if process.poll() is not None:
                raise RuntimeError(
                    f"{self.kind} daemon {process.args} exited with {process.returncode};"
                    f" logs in {self.log_dir}"
                )
