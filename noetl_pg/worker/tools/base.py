"""The one interface every tool implements, and what a tool may raise or return.

A tool is a module with `async def run(config, args, ctx) -> Any`: `config` is the
command's `tool_config` (secrets already filled in), `args` its rendered args. It returns
the `response` (JSON-serialisable) or raises `ToolError`; anything else it raises is a
bug and is reported as error kind `internal`.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import httpx

    from noetl_pg.store.queue import CommandQueue, Lease
    from noetl_pg.worker.outcome import Outcome
    from noetl_pg.worker.tools.postgres import PostgresPools
    from noetl_pg.worker.tools.python import PythonPool


class ToolError(Exception):
    """A failed call: `kind` says what failed, `details` go into the event's `error`."""

    def __init__(self, kind: str, message: str, **details: Any) -> None:
        super().__init__(message)
        self.kind = kind
        self.message = message
        self.details = details

    def as_error(self) -> dict[str, Any]:
        return {"kind": self.kind, "message": self.message, **self.details}


@dataclass(frozen=True)
class Deferred:
    """Returned by a tool whose result comes later from elsewhere (a child playbook):
    the worker reports nothing; the engine finishes the command."""

    reason: str


@dataclass(frozen=True)
class Reported:
    """Returned by a tool that already reported, in the transaction of its own effect
    (postgres on the orchestrator's database): the worker reports nothing more.
    `event_id` is None when the lease was lost and everything was rolled back."""

    event_id: int | None
    outcome: Outcome


@dataclass
class Resources:
    """What the tools of one worker share: clients and pools live as long as the worker."""

    dsn: str
    http: httpx.AsyncClient
    postgres: PostgresPools
    python: PythonPool
    queue: CommandQueue
    max_result_bytes: int
    env: Mapping[str, str] = field(default_factory=lambda: os.environ)


@dataclass(frozen=True)
class ToolContext:
    """Which command is running, and the worker's shared resources."""

    lease: Lease
    execution_id: str
    step: str
    run_key: str | None
    timeout_seconds: float | None
    resources: Resources
    # Turns a response (or an error) into the checked call.done outcome, as the worker
    # would after the tool returns; tools that report themselves use it.
    finish: Callable[[Any, dict[str, Any] | None], Outcome]

    @property
    def queue_id(self) -> int:
        return self.lease.queue_id
