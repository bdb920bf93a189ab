"""The user's guide's worker classes (`WorkerExecutorV2`, `QueuePollerV2`) over ours.

The guide builds a worker from a `worker_id` and a `server_url` and polls every
`poll_interval`; here that is a remote worker (`noetl-worker --gateway URL`) whose
long-poll waits at most `poll_interval` seconds for work and wakes at once when work is
queued. `await poller.start()` runs until `poller.stop()`, SIGTERM or SIGINT, and stops
as `noetl-worker` does (running commands get the grace period, the rest is given back).
"""

from __future__ import annotations

import threading
from collections.abc import Mapping

from noetl_pg.signals import serve_until_stopped
from noetl_pg.worker.allow import ToolAllowList
from noetl_pg.worker.daemon import Worker


class WorkerExecutorV2:
    """What runs the commands: the worker's identity, its server and its tool settings."""

    def __init__(
        self,
        worker_id: str,
        server_url: str,
        *,
        token: str | None = None,
        concurrency: int = 4,
        env: Mapping[str, str] | None = None,
        allowed_tools: ToolAllowList | None = None,
    ) -> None:
        self.worker_id = worker_id
        self.server_url = server_url
        self.token = token  # default: NOETL_API_TOKEN
        self.concurrency = concurrency
        self.env = env
        self.allowed_tools = allowed_tools


class QueuePollerV2:
    """Leases commands from the server for its executor until stopped."""

    def __init__(
        self,
        worker_id: str,
        server_url: str,
        executor: WorkerExecutorV2,
        poll_interval: float = 1.0,
        *,
        lease_seconds: float = 30.0,
    ) -> None:
        if executor.worker_id != worker_id or executor.server_url != server_url:
            raise ValueError("the poller and its executor must name the same worker and server")
        self.worker = Worker(
            gateway_url=server_url,
            worker_id=worker_id,
            token=executor.token,
            concurrency=executor.concurrency,
            env=executor.env,
            allowed_tools=executor.allowed_tools,
            poll_interval=poll_interval,
            lease_seconds=lease_seconds,
        )

    async def start(self) -> None:
        """Run until `stop()` (or SIGTERM/SIGINT, when called in the main thread)."""
        if threading.current_thread() is threading.main_thread():
            await serve_until_stopped(self.worker)
        else:
            await self.worker.run()

    def stop(self) -> None:
        self.worker.stop()
