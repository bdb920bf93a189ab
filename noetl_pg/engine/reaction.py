"""What applying one event produces: values the daemon writes, nothing that does I/O."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from noetl_pg.engine.state import ExecutionState
from noetl_pg.protocol import EventName


@dataclass(frozen=True)
class InputEvent:
    """An event row to apply (written by a client, a worker, or a child execution).
    `run_key` names the command a `call.done` reports on: the loader takes it from the
    queue row the event's `queue_id` names, so the engine never needs queue ids."""

    event_id: int
    execution_id: str
    name: str
    step: str | None = None
    payload: dict[str, Any] = field(default_factory=dict)
    run_key: str | None = None


@dataclass(frozen=True)
class Command:
    """A row for `noetl.queue`."""

    execution_id: str
    step: str
    tool_kind: str
    tool_config: dict[str, Any]
    args: dict[str, Any]
    context: dict[str, Any]
    run_key: str
    delay_seconds: float = 0.0
    timeout_seconds: float | None = None
    max_attempts: int = 3
    priority: int = 0
    step_limit: int | None = None  # step `concurrency.limit`
    step_key: str | None = None  # what that limit counts: the playbook path and step


@dataclass(frozen=True)
class Deadline:
    """A row for `noetl.deadline`: a `timeout` event is due `seconds` from now, for the
    step run `run_id` (its step's `timeout`) or, with no run, the whole execution."""

    execution_id: str
    seconds: float
    step: str | None = None
    run_id: str | None = None


@dataclass(frozen=True)
class EmittedEvent:
    """An event the engine records about itself (already applied when written)."""

    name: EventName
    step: str | None
    status: str | None  # a StepStatus or ExecutionStatus member
    payload: dict[str, Any]


@dataclass(frozen=True)
class ParentReport:
    """A child execution ended: finish the parent's waiting command and tell the parent."""

    parent_execution_id: str
    parent_queue_id: int
    ok: bool
    payload: dict[str, Any]


@dataclass
class Reaction:
    """The execution's reaction to one event: its new state and everything to write."""

    state: ExecutionState | None
    commands: list[Command] = field(default_factory=list)
    events: list[EmittedEvent] = field(default_factory=list)
    deadlines: list[Deadline] = field(default_factory=list)
    diagnostics: list[dict[str, Any]] = field(default_factory=list)
    error: str | None = None  # the event was refused: why
    cancel_pending: bool = False
    # run_keys of commands a step timeout dropped: cancelled if still pending or waiting.
    cancel_commands: list[str] = field(default_factory=list)
    queued: tuple[str, int] | None = None  # playbook `concurrency`: (rendered key, limit)
    parent_report: ParentReport | None = None
