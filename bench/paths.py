"""noetl's two ways of moving a step, as the benchmark selects them in the worker.

"fast path": the worker applies its own `call.done` and runs the next command in the
report's transaction (DESIGN.md "The fast path"); "two hops": the engine applies it and the
next command reaches a worker by NOTIFY. The worker reads `NOETL_FAST_PATH` (1 | 0) and
takes `--no-fast-path`; a build whose worker does not know the flag has no fast path.
"""

from __future__ import annotations

import functools
import subprocess
import sys
from dataclasses import dataclass

FAST_PATH_ENV = "NOETL_FAST_PATH"
FAST_PATH_FLAG = "--no-fast-path"
NOT_IN_BUILD = "not available in this build"


@dataclass(frozen=True)
class StepPath:
    label: str
    fast: bool
    floor: str  # the Fleet kind of the raw-SQL floor doing this path's round trips

    def env(self) -> dict[str, str]:
        return {FAST_PATH_ENV: "1" if self.fast else "0"}

    def worker_args(self) -> list[str]:
        return [FAST_PATH_FLAG] if not self.fast and fast_path_in_build() else []


FAST = StepPath("fast path", fast=True, floor="one_tx")
TWO_HOPS = StepPath("two hops", fast=False, floor="baseline")
PATHS = (FAST, TWO_HOPS)


@functools.cache
def fast_path_in_build() -> bool:
    """Whether `noetl_pg.worker.daemon --help` offers `--no-fast-path`."""
    shown = subprocess.run(
        [sys.executable, "-m", "noetl_pg.worker.daemon", "--help"],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    return FAST_PATH_FLAG in shown.stdout
