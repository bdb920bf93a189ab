"""The worker's side tasks, watched: one that dies is restarted, one that keeps dying
stops the worker.

A side task (the heartbeat, the lease loop) is a loop that should run as long as the
worker does; if it raised and nobody looked, the worker would go on looking alive while
its leases expire or it leases nothing. procrastinate's worker (`_start_side_tasks`,
`_monitor_side_tasks`) is the model: a task that dies is noticed, logged with its reason
and started again; past `restarts` deaths within `window` seconds the worker gives up
with `SideTaskFailed`, and `noetl-worker` exits non-zero saying why.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass


class SideTaskFailed(Exception):
    """A side task of the worker kept dying: the worker stops."""

    def __init__(self, name: str, deaths: int, window: float, cause: BaseException) -> None:
        super().__init__(
            f"the {name} died {deaths} times within {window:g} s; the last time of {reason(cause)}"
        )
        self.name = name
        self.cause = cause


def reason(exc: BaseException) -> str:
    """One line saying what went wrong (the first line of a multi-line message)."""
    lines = str(exc).splitlines()
    return f"{type(exc).__name__}: {lines[0]}" if lines else type(exc).__name__


@dataclass(frozen=True)
class RestartPolicy:
    restarts: int = 3  # restarts allowed within `window`; the next death stops the worker
    window: float = 300.0
    delay: float = 0.5  # seconds before a restart, times the deaths within the window


async def watched(
    name: str,
    loop: Callable[[], Awaitable[None]],
    policy: RestartPolicy,
    log: logging.Logger,
) -> None:
    """Run `loop()` until it returns, starting it again each time it raises, until it
    has died more than `policy.restarts` times within `policy.window` seconds."""
    deaths: deque[float] = deque()
    while True:
        try:
            await loop()
            return
        except Exception as exc:
            now = time.monotonic()
            deaths.append(now)
            while now - deaths[0] > policy.window:
                deaths.popleft()
            if len(deaths) > policy.restarts:
                raise SideTaskFailed(name, len(deaths), policy.window, exc) from exc
            log.error(
                "the %s died (%s); restarting it (death %d of %d allowed within %g s)",
                name,
                reason(exc),
                len(deaths),
                policy.restarts,
                policy.window,
                exc_info=exc,
            )
            await asyncio.sleep(policy.delay * len(deaths))
