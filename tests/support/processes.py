"""Real daemon processes for tests: start them, wait for them, kill them."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

MODULES = {
    "engine": "noetl_pg.engine.daemon",
    "worker": "noetl_pg.worker.daemon",
    "gateway": "noetl_pg.gateway.server",
}


def start_daemon(
    kind: str, dsn: str, log_dir: Path, *args: str, **env: str
) -> subprocess.Popen[bytes]:
    """Start `noetl-<kind>` as a child process, its output in `log_dir/<kind>-<pid>.log`."""
    log_dir.mkdir(parents=True, exist_ok=True)
    log = open(log_dir / f"{kind}-{time.monotonic_ns()}.log", "wb")  # noqa: SIM115
    process = subprocess.Popen(
        [sys.executable, "-m", MODULES[kind], *args],
        env={**os.environ, "NOETL_DSN": dsn, "NOETL_LOG_LEVEL": "INFO", **env},
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    log.close()
    return process


def kill(process: subprocess.Popen[bytes]) -> None:
    """SIGKILL: no cleanup, no goodbye."""
    if process.poll() is None:
        process.send_signal(signal.SIGKILL)
    process.wait(timeout=30)


def terminate(process: subprocess.Popen[bytes], timeout: float = 30) -> int:
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
    return process.wait(timeout=timeout)


def wait_until(condition: Callable[[], bool], timeout: float = 60, every: float = 0.05) -> None:
    """Wait for `condition` to hold; fail with the deadline if it never does."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(every)
    raise AssertionError(f"condition not met within {timeout}s: {condition.__doc__ or condition}")
