"""A CPU-time limit for rendering one template with statements (`{% for %}` ...).

Jinja's sandbox caps `range()` and our environment caps what one operator may build, but
two nested loops over allowed ranges can still spin an engine for hours. A template with
statements therefore renders under a virtual-time timer (`ITIMER_VIRTUAL`: CPU time of
this process, so neither sleeping nor pytest-timeout's `SIGALRM` is involved); when it
fires, rendering stops with `RenderTimeLimit`. Signals reach only the main thread, so a
render on another thread runs unlimited (the daemons render on their main thread).
"""

from __future__ import annotations

import contextlib
import os
import signal
import threading
from collections.abc import Iterator

LIMIT_ENV = "NOETL_TEMPLATE_CPU_SECONDS"
DEFAULT_LIMIT_SECONDS = 2.0


class RenderTimeLimit(Exception):
    """Rendering used more CPU time than the limit allows."""


def limit_seconds() -> float:
    try:
        return float(os.environ.get(LIMIT_ENV, DEFAULT_LIMIT_SECONDS))
    except ValueError:
        return DEFAULT_LIMIT_SECONDS


def _on_timer(signum: int, frame: object) -> None:
    raise RenderTimeLimit(
        f"rendering used more than {limit_seconds():g} s of CPU (a loop too large?);"
        f" the limit is {LIMIT_ENV}"
    )


@contextlib.contextmanager
def cpu_limited() -> Iterator[None]:
    seconds = limit_seconds()
    if seconds <= 0 or threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGVTALRM, _on_timer)
    signal.setitimer(signal.ITIMER_VIRTUAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_VIRTUAL, 0)
        signal.signal(signal.SIGVTALRM, previous)
