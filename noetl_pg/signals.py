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

    async def serve() -> None:
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(signum, daemon.stop)
        await daemon.run()

    asyncio.run(serve())
