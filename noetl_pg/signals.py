"""How every daemon runs: until SIGTERM or SIGINT asks it to stop."""

from __future__ import annotations

import asyncio
import signal
from typing import Protocol


class Daemon(Protocol):
    async def run(self) -> None: ...

    def stop(self) -> None: ...


def run_until_stopped(daemon: Daemon) -> None:
    """Run `daemon` on a new event loop; SIGTERM/SIGINT call its `stop()`, and this returns
    once `run()` has finished its own shutdown."""

    asyncio.run(serve_until_stopped(daemon))


async def serve_until_stopped(daemon: Daemon) -> None:
    """`run_until_stopped` on the running loop (for a caller that owns the loop)."""
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, daemon.stop)
    try:
        await daemon.run()
    finally:
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.remove_signal_handler(signum)
