"""Every `then` action, the pagination idiom, retry, max_iterations, loops."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.unit.engine.sim import Sim, echo_args, playbook

NOOP = "    tool: {kind: noop}"
EXAMPLES = Path(__file__).resolve().parents[3] / "examples"


def test_set_on_step_enter_is_visible_to_the_tool_templates():
    sim = Sim(
        playbook(
            "  - step: start",
            "    tool: {kind: noop, page_size: '{{ ctx.size }}', plain: '{{ size }}'}",
            "    case:",
            "      - when: \"{{ event.name == 'step.enter' }}\"",
            "        then: {set: {ctx: {size: 25}}}",
        )
    )
    assert sim.issued[0].tool_config == {"page_size": 25, "plain": 25}
    assert sim.state.ctx == {"size": 25}


def test_pagination_idiom_collects_every_page():
    text = (EXAMPLES / "pagination.yaml").read_text()
    sim = Sim(text, workload={"base_url": "http://api"})
    pages = {1: [1, 2], 2: [3, 4], 3: [5]}

    def server(command):
        if command.tool_kind != "http":
            return command.args, None
        page = int(command.tool_config["params"]["page"])
        assert command.tool_config["endpoint"] == "http://api/items"
        data = {"items": pages[page], "page": page, "has_more": page < 3}
        return {"status": 200, "headers": {}, "data": data}, None

    sim.run(server)
    assert sim.status == "completed"
    assert sim.state.ctx["items"] == [1, 2, 3, 4, 5]
    http_pages = [c.tool_config["params"]["page"] for c in sim.issued if c.tool_kind == "http"]
    assert http_pages == [1, 2, 3]
    assert sim.state.result == {"count": 5, "items": [1, 2, 3, 4, 5]}


@pytest.mark.parametrize(
    ("mode", "expected"),
    [("append", [[1, 2], [1, 2]]), ("extend", [1, 2, 1, 2]), ("replace", [1, 2])],
)
def test_collect_modes(mode, expected):
    sim = Sim(
        playbook(
            "  - step: start",
            NOOP,
            "    max_iterations: 2",
            "    case:",
            "      - when: \"{{ event.name == 'call.done'",
            '               and (acc | default([]) | length) < 2 }}"',
            f"        then: {{collect: {{from: response.v, into: acc, mode: {mode}}}, call: {{}}}}",
            "      - when: \"{{ event.name == 'call.done' }}\"",
            f"        then: {{collect: {{from: response.v, into: acc, mode: {mode}}}}}",
        )
    )
    sim.run(lambda c: ({"v": [1, 2]}, None))
    assert sim.state.ctx["acc"] == expected


def test_result_from_expression_and_literal():
    sim = Sim(
        playbook(
            "  - step: start",
            NOOP,
            "    next: b",
            "    case:",
            "      - when: \"{{ event.name == 'call.done' }}\"",
            "        then: {result: {from: response.a + 1}}",
            "  - step: b",
            NOOP,
            "    case:",
            "      - when: \"{{ event.name == 'call.done' }}\"",
            "        then: {result: {value: '{{ start }}', fixed: 7}}",
        )
    )
    sim.complete({"a": 1})
    assert sim.state.step_results["start"] == 2
    sim.complete({})
    assert sim.state.result == {"value": 2, "fixed": 7}


def test_call_merges_over_config_and_max_iterations_fails_with_clear_error():
    sim = Sim(
        playbook(
            "  - step: start",
            "    tool: {kind: noop, params: {page: 1, size: 10}}",
            "    max_iterations: 3",
            "    case:",
            "      - when: \"{{ event.name == 'call.done' }}\"",
            "        then: {call: {params: {page: '{{ response.n + 1 }}'}}}",
        )
    )
    sim.complete({"n": 1})
    sim.complete({"n": 2})
    assert [c.tool_config["params"] for c in sim.issued] == [
        {"page": 1, "size": 10},
        {"page": 2, "size": 10},
        {"page": 3, "size": 10},
    ]
    sim.complete({"n": 3})
    assert sim.status == "failed"
    assert "max_iterations (3" in sim.state.error


def test_retry_reissues_with_backoff_then_error_stands():
    sim = Sim(
        playbook(
            "  - step: start",
            NOOP,
            "    case:",
            "      - when: \"{{ event.name == 'call.done' and error is defined }}\"",
            "        then:",
            "          retry: {max_attempts: 3, initial_delay: 0.5, backoff_multiplier: 3,"
            " max_delay: 1}",
        )
    )
    for _ in range(3):
        sim.complete(error={"kind": "http_status", "status": 503, "message": "busy"})
    assert [c.delay_seconds for c in sim.issued] == [0.0, 0.5, 1.0]
    assert sim.status == "failed"
    assert "busy" in sim.state.error


def test_retry_succeeds_on_a_later_attempt():
    sim = Sim(
        playbook(
            "  - step: start",
            NOOP,
            "    case:",
            "      - when: \"{{ event.name == 'call.done' and error is defined }}\"",
            "        then: {retry: {max_attempts: 5, initial_delay: 0}}",
        )
    )
    sim.complete(error={"kind": "x", "message": "flaky"})
    sim.complete({"ok": True})
    assert sim.status == "completed"
    assert sim.state.result == {"ok": True}
    assert len(sim.issued) == 2


def test_fail_action_fails_with_rendered_message():
    sim = Sim(
        playbook(
            "  - step: start",
            NOOP,
            "    case:",
            "      - when: \"{{ event.name == 'call.done' and response.bad }}\"",
            "        then: {fail: {message: 'bad value {{ response.v }}'}}",
        )
    )
    sim.complete({"bad": True, "v": 9})
    assert sim.status == "failed"
    assert "bad value 9" in sim.state.error


def test_skip_on_step_enter_skips_the_call_and_follows_next():
    sim = Sim(
        playbook(
            "  - step: start",
            NOOP,
            "    case:",
            "      - when: \"{{ event.name == 'step.enter' and workload.skip }}\"",
            "        then: {skip: {reason: not today}}",
            "    next: end",
            "  - step: end",
            NOOP,
        ),
        workload={"skip": True},
    )
    assert [c.step for c in sim.issued] == ["end"]
    assert sim.exits() == [("start", "skipped")]


def test_sink_runs_as_its_own_command_and_the_workflow_waits_for_it():
    sim = Sim(
        playbook(
            "  - step: start",
            NOOP,
            "    case:",
            "      - when: \"{{ event.name == 'call.done' }}\"",
            "        then:",
            "          sink:",
            "            tool: {kind: postgres, query: 'insert into t values (%(v)s)',"
            " params: {v: '{{ args.v }}'}}",
            "            args: {v: '{{ response.v }}'}",
        )
    )
    sim.complete({"v": 42})
    sink = sim.issued[-1]
    assert (sink.tool_kind, sink.tool_config["params"], sink.args) == (
        "postgres",
        {"v": 42},
        {"v": 42},
    )
    assert sim.status == "running"  # the sink is outstanding
    sim.complete({"rows": [], "row_count": 1})
    assert sim.status == "completed"


def test_failed_when_is_no_match_with_a_reason():
    sim = Sim(
        playbook(
            "  - step: start",
            NOOP,
            "    case:",
            '      - when: "{{ response.data.missing.deeper }}"',
            "        then: {fail: never}",
        )
    )
    sim.complete({"data": {}})
    assert sim.status == "completed"
    reasons = [d["reason"] for d in sim.diagnostics if "reason" in d]
    assert reasons and "counted as false" in reasons[0]


def test_then_list_applies_in_order():
    sim = Sim(
        playbook(
            "  - step: start",
            NOOP,
            "    case:",
            "      - when: \"{{ event.name == 'call.done' }}\"",
            "        then:",
            "          - set: {ctx: {a: 1}}",
            "          - set: {ctx: {b: '{{ a + 1 }}'}}",
        )
    )
    sim.complete({})
    assert sim.state.ctx == {"a": 1, "b": 2}


# --- loops ---------------------------------------------------------------------------

LOOP_STEP = (
    "  - step: start",
    "    loop: {{in: '{{{{ workload.items }}}}', iterator: it, mode: {mode}{extra}}}",
    "    args: {{v: '{{{{ it * 10 }}}}', i: '{{{{ loop.index }}}}', last: '{{{{ loop.last }}}}'}}",
    "    tool: {{kind: noop}}",
)


def loop_playbook(mode: str, extra: str = "", tail: tuple[str, ...] = ()) -> str:
    lines = [line.format(mode=mode, extra=extra) for line in LOOP_STEP]
    return playbook(*lines, *tail)


def test_sequential_loop_runs_one_at_a_time_in_item_order():
    sim = Sim(loop_playbook("sequential"), workload={"items": [1, 2, 3]})
    assert len(sim.pending) == 1
    sim.run(echo_args)
    assert [c.args for c in sim.issued] == [
        {"v": 10, "i": 0, "last": False},
        {"v": 20, "i": 1, "last": False},
        {"v": 30, "i": 2, "last": True},
    ]
    assert sim.state.result == [c.args for c in sim.issued]
    assert sim.names().count("loop.done") == 1
    assert sim.names().count("step.exit") == 1
    assert sim.names().count("step.enter") == 3


def test_parallel_loop_respects_max_in_flight_and_keeps_item_order():
    sim = Sim(loop_playbook("parallel", ", max_in_flight: 2"), workload={"items": [1, 2, 3, 4]})
    assert len(sim.pending) == 2
    # finish the second one first: results must still be in item order
    second = list(sim.pending)[1]
    sim._answer(second, {"n": 2}, None)
    assert len(sim.pending) == 2
    sim.run(lambda c: ({"n": c.args["v"] // 10}, None))
    assert sim.state.result == [{"n": 1}, {"n": 2}, {"n": 3}, {"n": 4}]


def test_parallel_loop_without_limit_issues_everything():
    sim = Sim(loop_playbook("parallel"), workload={"items": list(range(7))})
    assert len(sim.pending) == 7


def test_empty_loop_exits_with_empty_result():
    sim = Sim(loop_playbook("sequential"), workload={"items": []})
    assert sim.status == "completed"
    assert sim.state.result == []


def test_loop_in_that_is_not_a_list_fails_clearly():
    sim = Sim(loop_playbook("sequential"), workload={"items": 5})
    assert sim.status == "failed"
    assert "loop `in` must give a list" in sim.state.error


def test_next_fired_per_iteration_starts_the_target_once_per_firing():
    tail = (
        "    case:",
        "      - when: \"{{ event.name == 'call.done' and response.v > 15 }}\"",
        "        then: {next: [{step: big, args: {v: '{{ response.v }}'}}]}",
        "  - step: big",
        "    tool: {kind: noop}",
    )
    sim = Sim(loop_playbook("sequential", tail=tail), workload={"items": [1, 2, 3]})
    sim.run(echo_args)
    assert [c.args for c in sim.issued if c.step == "big"] == [{"v": 20}, {"v": 30}]
    assert sim.status == "completed"


def test_two_loops_in_one_execution_do_not_share_state():
    sim = Sim(
        playbook(
            "  - step: start",
            "    tool: {kind: noop}",
            "    next: [a, b]",
            "  - step: a",
            "    loop: {in: '{{ workload.xs }}', iterator: x, mode: parallel}",
            "    args: {x: '{{ x }}'}",
            "    tool: {kind: noop}",
            "  - step: b",
            "    loop: {in: '{{ workload.ys }}', iterator: y, mode: sequential}",
            "    args: {y: '{{ y }}'}",
            "    tool: {kind: noop}",
        ),
        workload={"xs": [1, 2], "ys": ["p", "q", "r"]},
    )
    sim.run(echo_args)
    assert sim.state.step_results["a"] == [{"x": 1}, {"x": 2}]
    assert sim.state.step_results["b"] == [{"y": "p"}, {"y": "q"}, {"y": "r"}]


def test_loop_done_rule_can_set_the_step_result():
    tail = (
        "    case:",
        "      - when: \"{{ event.name == 'loop.done' }}\"",
        "        then: {result: {from: \"result | map(attribute='v') | sum\"}}",
    )
    sim = Sim(loop_playbook("parallel", tail=tail), workload={"items": [1, 2, 3]})
    sim.run(echo_args)
    assert sim.state.result == 60


def test_failed_iteration_fails_the_loop_step():
    sim = Sim(loop_playbook("sequential"), workload={"items": [1, 2, 3]})
    sim.complete({})
    sim.complete(error={"kind": "x", "message": "item 2 broke"})
    assert sim.status == "failed"
    assert len(sim.issued) == 2  # no third item after the failure
    assert "item 2 broke" in sim.state.error


def test_a_long_loop_keeps_only_iterations_in_flight_in_its_state():
    sim = Sim(loop_playbook("parallel", ", max_in_flight: 3"), workload={"items": list(range(50))})
    for _ in range(20):
        sim.complete({"ok": True})
    [run] = sim.state.runs.values()
    assert len(run.iterations) == 3
    sim.run(echo_args)
    assert len(sim.state.result) == 50


# --- how the core is built: one table, one scope per event, secrets once per step --------


def test_the_action_table_applies_every_then_action_in_the_dsl_order():
    from noetl_pg.dsl import THEN_ACTIONS, Then
    from noetl_pg.engine.actions import ACTIONS

    assert tuple(ACTIONS) == THEN_ACTIONS
    assert set(ACTIONS) == set(Then.model_fields)


def test_one_event_builds_its_scope_once_however_many_actions_fire(monkeypatch):
    from noetl_pg.engine import scope

    builds: list[str] = []
    real = scope.Scope._reserved_names

    def counting(self):
        builds.append(self._event["name"])
        return real(self)

    sim = Sim(
        playbook(
            "  - step: start",
            NOOP,
            "    case:",
            "      - when: \"{{ event.name == 'call.done' }}\"",
            "        then:",
            "          - set: {ctx: {a: 1}}",
            "            collect: {from: '{{ a }}', into: seen}",
            "            result: {from: '{{ ctx.seen }}'}",
            "          - set: {ctx: {b: '{{ a + 1 }}'}}",
            "            next: [{step: end, args: {b: '{{ b }}'}}]",
            "  - step: end",
            NOOP,
        )
    )
    monkeypatch.setattr(scope.Scope, "_reserved_names", counting)
    sim.complete({}, step="start")
    assert sim.state.ctx == {"a": 1, "seen": [1], "b": 2}
    assert sim.issued[-1].args == {"b": 2}
    # One per event: start's call.done and step.exit, then end's step.enter (where its
    # tool config is rendered; end has no args and no rules of its own).
    assert builds == ["call.done", "step.exit", "step.enter"]


def test_secret_names_are_found_once_per_step_not_once_per_command(monkeypatch):
    from noetl_pg.engine import compiled

    found: list[str] = []
    real = compiled.step_secrets

    def counting(playbook, step):
        found.append(step.step)
        return real(playbook, step)

    monkeypatch.setattr(compiled, "step_secrets", counting)
    sim = Sim(
        playbook(
            "  - step: start",
            "    loop: {in: '{{ workload.items }}', iterator: it, mode: parallel}",
            "    tool: {kind: http, endpoint: 'http://x/{{ it }}',",
            "           headers: {A: '{{ secret.TOKEN }}'}}",
            "    next: end",
            "  - step: end",
            NOOP,
        ),
        workload={"items": [1, 2, 3]},
    )
    sim.run(echo_args)
    assert [c.context.get("secrets") for c in sim.issued] == [["TOKEN"]] * 3 + [None]
    assert found == ["start", "end"]
