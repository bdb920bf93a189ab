"""CLI test helpers: run `noetl-pg` as a subprocess, and the examples' local HTTP server."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[3]
EXAMPLES = ROOT / "examples"
DEADLINE = 120  # only a hung command ever gets near it


def noetl_command() -> list[str]:
    """The installed `noetl-pg` script next to this Python, else the module."""
    script = Path(sys.executable).parent / "noetl-pg"
    return [str(script)] if script.exists() else [sys.executable, "-m", "noetl_pg.cli"]


def cli_env(dsn: str | None, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("NOETL_DSN", "NOETL_API_TOKEN")}
    if dsn is not None:
        env["NOETL_DSN"] = dsn
    # The console script imports whichever checkout is installed; this one's code comes first.
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    env.update(extra)
    return env


def noetl(
    *args: str, dsn: str | None, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """Run `noetl-pg ARGS` to the end; its exit code and output."""
    return subprocess.run(
        [*noetl_command(), *args],
        env=env if env is not None else cli_env(dsn),
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=DEADLINE,
        check=False,
    )


def spawn(*args: str, dsn: str | None) -> subprocess.Popen[str]:
    """Start `noetl-pg ARGS` (stdout and stderr piped) and return at once."""
    return subprocess.Popen(
        [*noetl_command(), *args],
        env=cli_env(dsn),
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def printed_result(stdout: str) -> Any:
    """The result `noetl-pg run` prints after its `result:` line."""
    marker = "\nresult:\n"
    assert marker in stdout, f"no result printed:\n{stdout}"
    return json.loads(stdout.split(marker, 1)[1])


@pytest.fixture(scope="session")
def example_server() -> Iterator[str]:
    """examples/server.py on a free port; its base URL."""
    process = subprocess.Popen(
        [sys.executable, str(EXAMPLES / "server.py"), "--port", "0", "--quiet"],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert process.stdout is not None
    line = process.stdout.readline()
    assert line.startswith("serving http://"), line
    try:
        yield line.split()[1]
    finally:
        process.terminate()
        process.wait(timeout=30)
