"""Control flow of the pure engine: steps, next, branches, completion, failure."""

from __future__ import annotations

from tests.unit.engine.sim import Sim, echo_args, playbook

NOOP = "    tool: {kind: noop}"


def test_start_enters_start_step_and_issues_its_command():
    sim = Sim(playbook("  - step: start", "    args: {a: 1}", NOOP))
    assert sim.names() == ["workflow.start", "step.enter"]
    assert [(c.step, c.tool_kind, c.args) for c in sim.issued] == [("start", "noop", {"a": 1})]
    assert sim.state.active_steps == ["start"]
    assert sim.status == "running"


def test_structural_next_chain_completes_with_last_result():
    sim = Sim(
        playbook(
            "  - step: start",
            "    args: {x: 2}",
            NOOP,
            "    next: double",
            "  - step: double",
            "    args: {y: '{{ start.x * 2 }}'}",
            NOOP,
            "    next: end",
            "  - step: end",
            "    args: {z: '{{ double.y + 1 }}'}",
            NOOP,
        )
    )
    sim.run(echo_args)
    assert sim.status == "completed"
    assert sim.state.result == {"z": 5}
    assert sim.state.step_results == {"start": {"x": 2}, "double": {"y": 4}, "end": {"z": 5}}
    assert sim.names()[-1] == "workflow.complete"
    assert sim.exits() == [("start", "completed"), ("double", "completed"), ("end", "completed")]


def test_workload_from_start_payload_is_merged_over_playbook_workload():
    sim = Sim(
        playbook(
            "  - step: start",
            "    args: {v: '{{ workload.a }}-{{ workload.b }}'}",
            NOOP,
            workload="  a: 1\n  b: 2",
        ),
        workload={"b": 3},
    )
    assert sim.issued[0].args == {"v": "1-3"}


def test_next_with_list_of_steps_branches_in_parallel():
    sim = Sim(
        playbook(
            "  - step: start",
            NOOP,
            "    next: [left, right]",
            "  - step: left",
            "    args: {side: l}",
            NOOP,
            "  - step: right",
            "    args: {side: r}",
            NOOP,
        )
    )
    sim.complete({})
    assert sorted(c.step for c in sim.pending.values()) == ["left", "right"]
    assert sorted(sim.state.active_steps) == ["left", "right"]
    sim.run(echo_args)
    assert sim.status == "completed"


def test_next_with_args_passes_them_over_the_targets_own_args():
    sim = Sim(
        playbook(
            "  - step: start",
            NOOP,
            "    next: [{step: b, args: {k: passed}}]",
            "  - step: b",
            "    args: {k: own, o: own}",
            NOOP,
        )
    )
    sim.run(echo_args)
    assert sim.state.result == {"k": "passed", "o": "own"}


def test_branch_on_step_exit_picks_the_route_by_result():
    steps = (
        "  - step: start",
        "    tool: {kind: python, code: 'def main(): return 1'}",
        "    case:",
        "      - when: \"{{ event.name == 'step.exit' and result.n > 10 }}\"",
        "        then: {next: [{step: big, args: {n: '{{ result.n }}'}}]}",
        "      - when: \"{{ event.name == 'step.exit' }}\"",
        "        then: {next: small}",
        "  - step: big",
        NOOP,
        "  - step: small",
        NOOP,
    )
    big = Sim(playbook(*steps))
    big.complete({"n": 50})
    assert [c.step for c in big.pending.values()] == ["big"]
    assert next(iter(big.pending.values())).args == {"n": 50}
    small = Sim(playbook(*steps))
    small.complete({"n": 5})
    assert [c.step for c in small.pending.values()] == ["small"]


def test_unhandled_failed_call_fails_step_and_workflow():
    sim = Sim(playbook("  - step: start", NOOP, "    next: end", "  - step: end", NOOP))
    sim.complete(error={"kind": "http_status", "status": 500, "message": "boom"})
    assert sim.status == "failed"
    assert sim.exits() == [("start", "failed")]
    assert "boom" in sim.state.error and "start" in sim.state.error
    assert sim.names()[-1] == "workflow.failed"
    assert not sim.pending


def test_failure_handled_by_step_exit_rule_routes_on_and_completes():
    sim = Sim(
        playbook(
            "  - step: start",
            NOOP,
            "    case:",
            "      - when: \"{{ event.name == 'step.exit' and status == 'failed' }}\"",
            "        then: {next: [{step: recover, args: {why: '{{ error.message }}'}}]}",
            "  - step: recover",
            NOOP,
        )
    )
    sim.complete(error={"kind": "x", "message": "bad"})
    assert [c.args for c in sim.pending.values()] == [{"why": "bad"}]
    sim.run(echo_args)
    assert sim.status == "completed"
    assert sim.state.result == {"why": "bad"}


def test_failure_handled_on_call_done_makes_step_complete():
    sim = Sim(
        playbook(
            "  - step: start",
            NOOP,
            "    case:",
            "      - when: \"{{ event.name == 'call.done' and error is defined }}\"",
            "        then: {result: {fallback: true}}",
        )
    )
    sim.complete(error={"kind": "x", "message": "bad"})
    assert sim.status == "completed"
    assert sim.state.result == {"fallback": True}


def test_failed_step_does_not_follow_structural_next():
    sim = Sim(playbook("  - step: start", NOOP, "    next: end", "  - step: end", NOOP))
    sim.complete(error={"kind": "x", "message": "bad"})
    assert "end" not in [c.step for c in sim.issued]


def test_other_branch_finishes_before_a_failed_workflow_ends():
    sim = Sim(
        playbook(
            "  - step: start",
            NOOP,
            "    next: [a, b]",
            "  - step: a",
            NOOP,
            "  - step: b",
            NOOP,
        )
    )
    sim.complete({})
    sim.complete(error={"kind": "x", "message": "a broke"}, step="a")
    assert sim.status == "running"  # b is still running
    sim.complete({"b": 1}, step="b")
    assert sim.status == "failed"
    assert "a broke" in sim.state.error


def test_cancel_stops_issuing_and_late_results_start_nothing():
    sim = Sim(playbook("  - step: start", NOOP, "    next: end", "  - step: end", NOOP))
    queue_id = next(iter(sim.pending))
    command = sim.pending[queue_id]
    reaction = sim.send("workflow.cancel", {"reason": "user"})
    assert reaction.cancel_pending
    assert sim.status == "cancelled"
    sim.send("call.done", {"response": {}}, command.run_key)
    assert sim.status == "cancelled"
    assert [c.step for c in sim.issued] == ["start"]
    assert sim.names()[-1] == "call.done"


def test_engine_only_event_names_are_refused():
    sim = Sim(playbook("  - step: start", NOOP))
    reaction = sim.send("step.exit", {})
    assert "written by the engine only" in reaction.error
    assert sim.status == "running"


def test_duplicate_call_done_changes_nothing():
    sim = Sim(playbook("  - step: start", NOOP, "    next: end", "  - step: end", NOOP))
    queue_id = next(iter(sim.pending))
    run_key = sim.pending[queue_id].run_key
    sim.complete({})
    issued = len(sim.issued)
    sim.send("call.done", {"response": {}}, run_key)
    assert len(sim.issued) == issued
    assert any("no outstanding command" in d.get("note", "") for d in sim.diagnostics)


def test_second_start_of_same_execution_is_refused():
    sim = Sim(playbook("  - step: start", NOOP))
    reaction = sim.send("workflow.start", {"path": "tests/t"})
    assert "already been started" in reaction.error


def test_template_error_in_tool_config_fails_step_with_clear_error():
    sim = Sim(
        playbook("  - step: start", "    tool: {kind: noop, x: '{{ workload.nope.deeper }}'}")
    )
    assert sim.status == "failed"
    assert "nope" in sim.state.error and "start" in sim.state.error


def test_workbook_task_resolves_to_its_tool():
    sim = Sim(
        playbook(
            "  - step: start",
            "    tool: {kind: workbook, task: score, args: {x: 3}}",
            workbook="  - name: score\n    tool: {kind: python, code: 'def main(x): return x'}",
        )
    )
    command = sim.issued[0]
    assert command.tool_kind == "python"
    assert command.args == {"x": 3}
    assert "def main" in command.tool_config["code"]


def test_secrets_stay_placeholders_and_are_listed_for_the_worker():
    sim = Sim(
        playbook(
            "  - step: start",
            "    tool: {kind: http, endpoint: 'http://x',",
            "           headers: {A: 'Bearer {{ secret.TOKEN }}'}}",
        )
    )
    command = sim.issued[0]
    assert command.tool_config["headers"]["A"] == "Bearer {{ secret.TOKEN }}"
    assert command.context["secrets"] == ["TOKEN"]


def test_steps_that_skip_into_each_other_forever_fail_instead_of_spinning():
    sim = Sim(
        playbook(
            "  - step: start",
            NOOP,
            "    case:",
            "      - when: \"{{ event.name == 'step.enter' }}\"",
            "        then: {skip: {reason: loop}}",
            "    next: start",
        )
    )
    assert sim.status == "failed"
    assert "step entries" in sim.state.error
