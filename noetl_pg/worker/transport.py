"""How a worker reaches its queue: one interface, two transports.

`worker/sql_transport.py`'s `SqlTransport` talks to `noetl.queue` directly (a DSN,
LISTEN for wake-ups, the fast path); `worker/remote.py`'s `GatewayTransport` goes through
the gateway's worker endpoints over HTTP (a URL and a worker token, no DSN). The worker
daemon and the tool kinds use only this interface, so every tool, lease, heartbeat and
stop behaves the same on both.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any, Protocol

from noetl_pg.protocol.lease import ChildStart, Lease, LeasedCommand
from noetl_pg.store.queue import CommandQueue


class CommandTransport(Protocol):
    """What a worker asks of its queue. Every write is fenced on its lease."""

    worker_id: str
    # The orchestrator's own queue over SQL, for a tool that reports in the transaction of
    # its effect (postgres on the orchestrator's database); None over HTTP.
    orchestrator: CommandQueue | None

    async def lease_commands(self, n: int, lease_seconds: float) -> list[LeasedCommand]:
        """Up to `n` ready commands, leased to this worker."""
        ...

    async def wait_for_work(self, timeout: float, slots: int) -> bool:
        """Wait up to `timeout` for work (or, with no free `slots`, for `wake`); True if
        something woke it before the timeout."""
        ...

    def wake(self) -> None:
        """A slot freed: end a `wait_for_work` that had no free slots."""
        ...

    def interrupt(self) -> None:
        """The worker is stopping: end any `wait_for_work` now."""
        ...

    async def heartbeat(self, leases: Iterable[Lease], lease_seconds: float) -> set[int]: ...

    async def release(self, leases: Iterable[Lease]) -> set[int]: ...

    async def report(
        self, lease: Lease, *, ok: bool, payload_json: str, last_error: str | None
    ) -> int | None:
        """Finish the command with its call.done; the event_id, None if the lease was lost."""
        ...

    async def start_child_playbook(
        self, lease: Lease, child_execution_id: str, payload: dict[str, Any]
    ) -> ChildStart: ...

    async def park_wait(
        self, lease: Lease, *, signal: str | None, after: float | None, until: datetime | None
    ) -> bool: ...
