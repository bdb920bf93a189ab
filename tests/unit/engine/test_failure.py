"""One way to fail an execution: a failed rule, an internal error and a quarantine all
emit `workflow.failed`, cancel pending commands and tell the parent."""

from __future__ import annotations

from noetl_pg.engine.core import fail_execution
from noetl_pg.engine.reaction import InputEvent
from tests.unit.engine.sim import Sim, playbook

NOOP = "    tool: {kind: noop}"
PARENT = {"execution_id": "exec-parent", "queue_id": 7, "step": "call_child", "run_key": "k"}


def _child(*steps: str) -> Sim:
    """A started child execution of PARENT (the worker's start payload names it)."""
    return Sim(playbook(*steps), parent=PARENT)


def test_a_rule_failure_fails_the_child_and_tells_the_parent():
    sim = _child(
        "  - step: start",
        NOOP,
        "    case:",
        "      - when: \"{{ event.name == 'call.done' }}\"",
        "        then: {fail: {message: 'no good'}}",
    )
    sim.complete({})
    reaction = sim.last
    assert sim.status == "failed"
    assert [e.payload["error"] for e in reaction.events if e.name == "workflow.failed"] == [
        "step 'start': no good"
    ]
    assert reaction.cancel_pending
    report = reaction.parent_report
    assert (report.parent_execution_id, report.parent_queue_id, report.ok) == (
        "exec-parent",
        7,
        False,
    )
    assert report.payload["error"]["kind"] == "child_failed"
    assert "no good" in report.payload["error"]["message"]


def test_an_internal_error_fails_a_running_child_the_same_way():
    sim = _child("  - step: start", NOOP, "    next: end", "  - step: end", NOOP)
    event = InputEvent(99, "exec-1", "call.done", "start", {"response": {}}, "start#1/0/1")
    reaction = fail_execution(sim.state, event, "internal engine error applying call.done: boom")
    state = reaction.state
    assert (state.status, state.error) == (
        "failed",
        "internal engine error applying call.done: boom",
    )
    assert state.runs == {} and state.commands == {}
    assert reaction.cancel_pending
    assert [e.name for e in reaction.events] == ["workflow.failed"]
    assert reaction.error is None  # applied: the execution changed
    assert reaction.parent_report.ok is False
    assert "boom" in reaction.parent_report.payload["error"]["message"]


def test_a_start_that_cannot_be_applied_creates_the_failed_child_so_the_parent_hears():
    event = InputEvent(
        1, "exec-child", "workflow.start", None, {"path": "tests/c", "parent": PARENT}
    )
    reaction = fail_execution(None, event, "the engine could not store the effects: no")
    assert reaction.state.execution_id == "exec-child"
    assert reaction.state.status == "failed"
    assert reaction.state.path == "tests/c"
    assert reaction.parent_report.parent_queue_id == 7
    assert "could not store" in reaction.parent_report.payload["error"]["message"]


def test_failing_an_execution_that_has_ended_refuses_the_event_and_changes_nothing():
    sim = Sim(playbook("  - step: start", NOOP))
    sim.complete({})
    assert sim.status == "completed"
    event = InputEvent(99, "exec-1", "workflow.cancel", None, {})
    reaction = fail_execution(sim.state, event, "boom")
    assert reaction.error == "boom"
    assert reaction.state.status == "completed"
    assert reaction.events == [] and reaction.parent_report is None


def test_a_malformed_parent_in_a_start_payload_is_ignored_not_stored():
    for parent in ("exec-parent", {"execution_id": 3}, {"execution_id": "p", "queue_id": "7"}):
        event = InputEvent(1, "exec-c", "workflow.start", None, {"path": "x", "parent": parent})
        reaction = fail_execution(None, event, "boom")
        assert reaction.state.parent is None
        assert reaction.parent_report is None
