"""Timeouts in the pure engine: deadlines are asked for, and a `timeout` event fails the
step run (routable by its rules) or the whole execution, with `kind: timeout`."""

from __future__ import annotations

import pytest

from noetl_pg.dsl import PlaybookError, parse_playbook
from noetl_pg.engine.reaction import Deadline
from tests.unit.engine.sim import Sim, playbook

NOOP = "    tool: {kind: noop}"


def test_start_and_step_entry_ask_for_deadline_rows():
    text = playbook("  - step: start", "    timeout: 5", NOOP).replace(
        "workflow:", "timeout: 60\nworkflow:"
    )
    sim = Sim(text)
    assert sim.last.deadlines == [
        Deadline("exec-1", 60.0),
        Deadline("exec-1", 5.0, "start", "start#1"),
    ]


def test_a_step_timeout_fails_the_step_and_the_execution_with_kind_timeout():
    sim = Sim(playbook("  - step: start", "    timeout: 5", NOOP))
    (command,) = sim.pending.values()
    sim.send("timeout", {"run": "start#1", "seconds": 5})
    assert sim.status == "failed"
    assert sim.state.failures == [
        {"step": "start", "error": "step timeout of 5s passed", "kind": "timeout"}
    ]
    # The call's late report changes nothing.
    sim.send("call.done", {"response": {}}, command.run_key)
    assert sim.status == "failed"


def test_a_rule_may_route_a_step_timeout():
    sim = Sim(
        playbook(
            "  - step: start",
            "    timeout: 5",
            NOOP,
            "    case:",
            "      - when: \"{{ event.name == 'step.exit' and error.kind == 'timeout' }}\"",
            "        then: {next: [{step: fallback}]}",
            "  - step: fallback",
            NOOP,
        )
    )
    sim.send("timeout", {"run": "start#1", "seconds": 5})
    sim.complete({}, step="fallback")
    assert sim.exits() == [("start", "failed"), ("fallback", "completed")]
    assert sim.status == "completed"


def test_a_playbook_timeout_fails_the_execution_and_cancels_its_commands():
    sim = Sim(playbook("  - step: start", NOOP).replace("workflow:", "timeout: 1\nworkflow:"))
    sim.send("timeout", {"run": None, "seconds": 1})
    assert sim.status == "failed"
    assert sim.last.cancel_pending
    assert sim.state.failures[0]["kind"] == "timeout"


def test_a_timeout_after_the_end_is_ignored():
    sim = Sim(playbook("  - step: start", "    timeout: 5", NOOP))
    sim.complete({})
    sim.send("timeout", {"run": "start#1", "seconds": 5})
    assert sim.status == "completed"
    assert "timeout ignored" in sim.diagnostics[-1]["note"]


@pytest.mark.parametrize("where", ["playbook", "step"])
def test_a_negative_timeout_is_refused_naming_the_field(where: str):
    text = playbook("  - step: start", NOOP)
    if where == "step":
        text = text.replace("  - step: start", "  - step: start\n    timeout: -1")
    else:
        text = text.replace("workflow:", "timeout: -1\nworkflow:")
    with pytest.raises(PlaybookError) as info:
        parse_playbook(text, source="pb.yaml")
    message = str(info.value)
    assert "timeout" in message and "greater than 0" in message, message
    if where == "step":
        assert "start" in message, message
