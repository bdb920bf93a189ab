"""What a tool kind is: the interface every module in `worker/tools/` implements.

A kind is one module that defines `KIND = ToolKind(config=..., run=..., resources=...)`:

- `config`: its config model (a `ToolConfig` subclass), which the playbook parser checks
  as written and the worker checks again once the engine has rendered it;
- `run(config, args, ctx)`: one call, with the rendered config as that model and the
  rendered args; it returns the `response` (JSON-serialisable) or raises `ToolError`
  (anything else it raises is a bug, reported as error kind `internal`); None for a kind
  the engine resolves itself (`workbook`);
- `resources(settings)`: what its calls share for the worker's lifetime (a client, some
  pools) as an async context manager, entered when the worker starts and exited when it
  stops; `ctx.resource` in `run`. None when the kind needs nothing.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

from noetl_pg.protocol import ErrorKind, Lease
from noetl_pg.protocol.tool_config import ToolConfig
from noetl_pg.worker.report import CallReport
from noetl_pg.worker.transport import CommandTransport

C = TypeVar("C", bound=ToolConfig)
R = TypeVar("R")


class ToolError(Exception):
    """A failed call: `kind` says what failed, `details` go into the event's `error`."""

    def __init__(self, kind: ErrorKind, message: str, **details: Any) -> None:
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
    report: CallReport


@dataclass(frozen=True)
class WorkerSettings:
    """What a kind's resources and calls may know about the worker that runs them."""

    dsn: str | None  # the orchestrator's database; None for a worker on the gateway (HTTP)
    concurrency: int
    max_result_bytes: int
    python_memory_mb: int | None
    env: Mapping[str, str]


@dataclass(frozen=True)
class ToolContext(Generic[R]):
    """Which command is running, and what its kind shares across calls."""

    lease: Lease
    execution_id: str
    step: str
    run_key: str | None
    timeout_seconds: float | None
    settings: WorkerSettings
    resource: R
    queue: CommandTransport  # the worker's queue, over SQL or HTTP
    # Turns a response (or an error) into the checked call.done report, as the worker
    # would after the tool returns; tools that report themselves use it.
    finish: Callable[[Any, dict[str, Any] | None], CallReport]
    # The values of the secrets this call's config and args were filled in with (the list
    # fills as they are resolved, before `run`): what the tool must keep out of its output.
    secrets_used: list[str] = field(default_factory=list)

    @property
    def queue_id(self) -> int:
        return self.lease.queue_id


@dataclass(frozen=True)
class ToolKind(Generic[C, R]):
    """One tool kind: its config model, its call and its shared resources."""

    config: type[C]
    run: Callable[[C, dict[str, Any], ToolContext[R]], Awaitable[Any]] | None = None
    resources: Callable[[WorkerSettings], AbstractAsyncContextManager[R]] | None = None

    @property
    def name(self) -> str:
        return self.config.kind_name()
