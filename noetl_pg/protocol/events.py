"""Event names (DSL.md section 2) and who may write each."""

from __future__ import annotations

from enum import StrEnum


class EventName(StrEnum):
    WORKFLOW_START = "workflow.start"
    WORKFLOW_CANCEL = "workflow.cancel"
    CALL_DONE = "call.done"
    SIGNAL = "signal"  # payload {name, ...}: resumes the first `wait` on that name
    STEP_ENTER = "step.enter"
    STEP_EXIT = "step.exit"
    LOOP_DONE = "loop.done"
    WORKFLOW_COMPLETE = "workflow.complete"
    WORKFLOW_FAILED = "workflow.failed"
    WORKFLOW_CANCELLED = "workflow.cancelled"
    # A deadline row passed (engine/timeouts.py inserts it unprocessed, for the engine to
    # apply like a client event): payload {run, seconds, deadline}; no `run` = playbook.
    TIMEOUT = "timeout"
    # Playbook `concurrency`: the engine records `workflow.queued` (applied) when a start
    # waits for a slot; admitting it appends `workflow.admit` unprocessed (payload: the
    # start's), which the engine applies by entering the first steps.
    WORKFLOW_QUEUED = "workflow.queued"
    WORKFLOW_ADMIT = "workflow.admit"


# What a client (HTTP or plain SQL) may insert; every other name is the engine's own.
CLIENT_EVENTS: frozenset[EventName] = frozenset(
    {EventName.WORKFLOW_START, EventName.WORKFLOW_CANCEL, EventName.CALL_DONE, EventName.SIGNAL}
)
ENGINE_EVENTS: frozenset[EventName] = frozenset(set(EventName) - CLIENT_EVENTS)
# What the engine applies from the log: the clients' events plus its own maintenance scan's.
APPLIED_EVENTS: frozenset[EventName] = CLIENT_EVENTS | {EventName.TIMEOUT, EventName.WORKFLOW_ADMIT}
# The names a `case` rule's `when` can see as `event.name`.
RULE_EVENTS: frozenset[EventName] = frozenset(
    {EventName.STEP_ENTER, EventName.CALL_DONE, EventName.STEP_EXIT, EventName.LOOP_DONE}
)
