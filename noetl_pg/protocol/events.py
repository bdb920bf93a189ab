"""Event names (DSL.md section 2) and who may write each."""

from __future__ import annotations

from enum import StrEnum


class EventName(StrEnum):
    WORKFLOW_START = "workflow.start"
    WORKFLOW_CANCEL = "workflow.cancel"
    CALL_DONE = "call.done"
    STEP_ENTER = "step.enter"
    STEP_EXIT = "step.exit"
    LOOP_DONE = "loop.done"
    WORKFLOW_COMPLETE = "workflow.complete"
    WORKFLOW_FAILED = "workflow.failed"
    WORKFLOW_CANCELLED = "workflow.cancelled"


# What a client (HTTP or plain SQL) may insert; every other name is the engine's own.
CLIENT_EVENTS: frozenset[EventName] = frozenset(
    {EventName.WORKFLOW_START, EventName.WORKFLOW_CANCEL, EventName.CALL_DONE}
)
ENGINE_EVENTS: frozenset[EventName] = frozenset(set(EventName) - CLIENT_EVENTS)
# The names a `case` rule's `when` can see as `event.name`.
RULE_EVENTS: frozenset[EventName] = frozenset(
    {EventName.STEP_ENTER, EventName.CALL_DONE, EventName.STEP_EXIT, EventName.LOOP_DONE}
)
