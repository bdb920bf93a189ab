"""The shapes the gateway answers, as pydantic models: only the OpenAPI document reads
them (the handlers build plain dicts from rows), and the fuzz test holds the two equal."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, Field

from noetl_pg.protocol import CommandStatus, EventName, ExecutionStatus


class ErrorDetail(BaseModel):
    code: str = Field(examples=["invalid_body"])
    message: str
    details: dict[str, Any] | list[Any] = Field(
        description="machine-readable context, e.g. `problems`"
    )


class Error(BaseModel):
    """Every error the API answers."""

    error: ErrorDetail


class Unavailable(Error):
    status: Literal["unavailable"]
    database: Literal["error"]


class Health(BaseModel):
    status: Literal["ok"]
    database: Literal["ok"]
    service: str
    draining: bool = Field(description="new workflows are refused (`noetl-pg drain on`)")


class DrainStatus(BaseModel):
    draining: bool
    changed_at: datetime
    changed_by: str | None
    unfinished: int = Field(description="executions not finished yet (pending, queued, running)")


class Accepted(BaseModel):
    """Stored; no engine applied it within `wait` seconds."""

    status: Literal["accepted"]
    event_id: int
    execution_id: str


class Processed(BaseModel):
    """An engine applied the event; `error` says why it refused it, if it did."""

    status: Literal["processed"]
    event_id: int
    execution_id: str
    commands_generated: int
    error: str | None = None


class Registered(BaseModel):
    status: Literal["registered"]
    name: str
    path: str
    version: int
    created: bool


class PlaybookSummary(BaseModel):
    path: str
    version: int
    name: str
    label: str | None
    created_at: datetime


class PlaybookList(BaseModel):
    playbooks: list[PlaybookSummary]


class PlaybookDetail(PlaybookSummary):
    yaml: str
    spec: dict[str, Any]
    content_hash: str


class ExecutionWarning(BaseModel):
    """What the run recorded without stopping: a `when` that raised, a note, a refusal."""

    event_id: int
    event: str
    step: str | None
    kind: Literal["when", "note", "refused"]
    message: str


class ExecutionDetail(BaseModel):
    """One execution's state (the shape of `noetl_pg.get_state`)."""

    execution_id: str
    path: str | None
    status: ExecutionStatus
    current_steps: list[str]
    step_results: dict[str, Any]
    context: dict[str, Any]
    result: Any
    error: str | None
    warnings: list[ExecutionWarning]


class ExecutionSummary(BaseModel):
    execution_id: str
    path: str | None
    version: int | None
    status: ExecutionStatus
    parent_execution_id: str | None
    error: str | None
    created_at: datetime
    updated_at: datetime | None
    finished_at: datetime | None


class ExecutionPage(BaseModel):
    executions: list[ExecutionSummary]
    next_cursor: str | None


class Event(BaseModel):
    event_id: int
    execution_id: str
    name: EventName
    step: str | None
    status: str | None
    payload: Any
    queue_id: int | None
    created_at: datetime
    processed_at: datetime | None
    error: str | None
    commands_generated: int | None
    diagnostic: Any


class EventPage(BaseModel):
    execution_id: str
    events: list[Event]
    next_after: int | None


class Command(BaseModel):
    queue_id: int
    execution_id: str
    step: str
    tool_kind: str
    status: CommandStatus
    attempt: int
    max_attempts: int
    priority: int
    run_key: str | None
    assigned_worker_id: str | None
    created_at: datetime
    updated_at: datetime | None
    started_at: datetime | None
    completed_at: datetime | None
    available_at: datetime | None
    lease_expires_at: datetime | None
    last_error: str | None
    tool_config: Any
    args: Any


class CommandList(BaseModel):
    execution_id: str
    commands: list[Command]


class QueueDepth(BaseModel):
    """Commands per status and how long the oldest of each has waited."""

    commands: dict[str, int]
    oldest_seconds: dict[str, float]


class SignalSent(BaseModel):
    execution_id: str
    event_id: int
    name: str


class RerunStarted(BaseModel):
    execution_id: str
    rerun_of: str


class Schedule(BaseModel):
    path: str
    name: str
    version: int
    cron: str | None
    every_seconds: float | None
    timezone: str
    overlap: Literal["skip", "allow", "queue"]
    paused: bool
    next_fire_at: datetime | None
    last_fired_at: datetime | None
    last_execution_id: str | None
    fires: int
    skipped: int


class ScheduleList(BaseModel):
    schedules: list[Schedule]
