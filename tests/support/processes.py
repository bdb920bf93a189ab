"""Real daemon processes for tests: start them, wait for them, kill them."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

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


def stop(process: subprocess.Popen[Any], timeout: float = 30) -> None:
    """SIGTERM, and SIGKILL if it has not exited within `timeout`."""
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def wait_until(
    condition: Callable[[], Any], what: str = "", *, timeout: float = 60, every: float = 0.05
) -> Any:
    """Wait for `condition` to hold and return its value; fail naming `what` if it never does."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {timeout}s: {what or condition.__doc__ or condition}")
        time.sleep(every)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]
