"""Statuses of executions, step runs and queue commands (the SQL CHECKs list the same)."""

from __future__ import annotations

from enum import StrEnum


class ExecutionStatus(StrEnum):
    PENDING = "pending"
    QUEUED = "queued"  # waits for a slot of its playbook's `concurrency` key
    RUNNING = "running"
    COMPLETED = "completed"
    FAILED = "failed"
    CANCELLED = "cancelled"


class StepStatus(StrEnum):
    RUNNING = "running"
    COMPLETED = "completed"
    FAILED = "failed"
    SKIPPED = "skipped"


class CommandStatus(StrEnum):
    PENDING = "pending"
    LEASED = "leased"
    WAITING = "waiting"  # a child playbook runs for it; no lease can expire under it
    DONE = "done"
    FAILED = "failed"
    CANCELLED = "cancelled"

    @classmethod
    def of_outcome(cls, ok: bool) -> CommandStatus:
        """The final status of a command whose call succeeded (`ok`) or failed."""
        return cls.DONE if ok else cls.FAILED


class CallStatus(StrEnum):
    """The `status` of a `call.done` event: how the call ended."""

    OK = "ok"
    ERROR = "error"

    @classmethod
    def of_outcome(cls, ok: bool) -> CallStatus:
        return cls.OK if ok else cls.ERROR


TERMINAL: frozenset[ExecutionStatus] = frozenset(
    {ExecutionStatus.COMPLETED, ExecutionStatus.FAILED, ExecutionStatus.CANCELLED}
)
FINISHED_COMMANDS: frozenset[CommandStatus] = frozenset(
    {CommandStatus.DONE, CommandStatus.FAILED, CommandStatus.CANCELLED}
)
