"""v1 -> v2 migration: each v1 shape becomes a playbook that validates as v2."""

from __future__ import annotations

import textwrap

import pytest

from noetl_pg.dsl import (
    MigrationError,
    NextTarget,
    Playbook,
    evaluate_when,
    migrate_v1_to_v2,
    migrate_v1_to_v2_with_warnings,
    parse_playbook,
)


def migrate(v1: str) -> tuple[Playbook, str, list[str]]:
    text, warnings = migrate_v1_to_v2_with_warnings(textwrap.dedent(v1))
    return parse_playbook(text, source="<migrated>"), text, warnings


def test_type_steps_become_tools_and_top_level_metadata_moves():
    pb, text, warnings = migrate(
        """\
        apiVersion: noetl.io/v1
        kind: Playbook
        name: weather
        path: examples/weather
        version: 1.0
        description: the weather
        workload:
          base_url: http://localhost:8080
        workflow:
          - step: start
            type: start
            next:
              - step: fetch
          - step: fetch
            desc: get it
            type: http
            method: GET
            endpoint: "{{ workload.base_url }}/weather"
            headers: {Accept: application/json}
            params: {city: Paris}
            timeout: 5
            next:
              - step: end
          - step: end
            type: end
        """
    )
    assert warnings == []
    assert pb.api_version == "noetl.io/v2"
    assert (pb.metadata.name, pb.metadata.path, pb.metadata.version) == (
        "weather",
        "examples/weather",
        "1.0",
    )
    assert pb.metadata.description == "the weather"
    fetch = pb.step("fetch")
    assert fetch.desc == "get it"
    assert fetch.tool.kind == "http"
    assert fetch.tool.config() == {
        "method": "GET",
        "endpoint": "{{ workload.base_url }}/weather",
        "headers": {"Accept": "application/json"},
        "params": {"city": "Paris"},
        "timeout": 5,
    }
    assert fetch.next == [NextTarget(step="end")]
    assert pb.step("start").tool.kind == "noop"
    assert pb.step("end").tool.kind == "noop"
    assert "type:" not in text


def test_when_then_else_becomes_step_exit_rules():
    pb, _, warnings = migrate(
        """\
        apiVersion: noetl.io/v1
        kind: Playbook
        metadata: {name: branch}
        workflow:
          - step: start
            type: python
            code: |
              def main():
                  return {"temp": 30}
            next:
              - when: "{{ result.temp > 25 }}"
                then:
                  - step: hot
                    with: {temp: "{{ result.temp }}"}
              - when: "{{ result.temp < 0 }}"
                then: [freezing]
              - else:
                  - step: mild
          - step: hot
            type: python
            code: "def main(temp): return temp"
          - step: freezing
            type: end
          - step: mild
            type: end
        """
    )
    assert warnings == []
    start = pb.step("start")
    assert start.next == []
    whens = [rule.when for rule in start.case]
    assert whens == [
        "{{ event.name == 'step.exit' and (result.temp > 25) }}",
        "{{ event.name == 'step.exit' and (result.temp < 0) }}",
        "{{ event.name == 'step.exit' and (not (result.temp > 25) and not (result.temp < 0)) }}",
    ]
    assert [rule.then[0].next for rule in start.case] == [
        [NextTarget(step="hot", args={"temp": "{{ result.temp }}"})],
        [NextTarget(step="freezing")],
        [NextTarget(step="mild")],
    ]
    exit_event = {"event": {"name": "step.exit"}}
    call_done = {"event": {"name": "call.done"}, "result": {"temp": 30}}
    assert evaluate_when(whens[0], {**exit_event, "result": {"temp": 30}}) == (True, None)
    assert evaluate_when(whens[2], {**exit_event, "result": {"temp": 10}}) == (True, None)
    assert evaluate_when(whens[0], call_done) == (False, None)


def test_when_then_else_in_one_entry_and_unconditional_targets():
    pb, _, _ = migrate(
        """\
        workflow:
          - step: start
            type: start
            next:
              - when: "{{ workload.flag }}"
                then: [a]
                else: [b]
              - step: audit
          - step: a
            type: end
          - step: b
            type: end
          - step: audit
            type: end
        """
    )
    start = pb.step("start")
    # the unconditional target still runs when a rule fires, as it did in v1
    assert start.next == [NextTarget(step="audit")]
    assert [rule.when for rule in start.case] == [
        "{{ event.name == 'step.exit' and (workload.flag) }}",
        "{{ event.name == 'step.exit' and (not (workload.flag)) }}",
    ]
    assert [[t.step for t in rule.then[0].next] for rule in start.case] == [
        ["a", "audit"],
        ["b", "audit"],
    ]
    assert pb.metadata.name == "migrated_playbook"


def test_with_and_data_become_args():
    pb, _, warnings = migrate(
        """\
        apiVersion: noetl.io/v1
        kind: Playbook
        metadata: {name: args}
        workflow:
          - step: start
            type: python
            with: {a: 1}
            data: {b: "{{ workload.b }}"}
            code: "def main(a, b): return a"
            next:
              - step: post
                with: {value: "{{ start }}"}
          - step: post
            type: http
            method: POST
            endpoint: http://x/y
            data: {value: "{{ args.value }}"}
        """
    )
    assert pb.step("start").args == {"a": 1, "b": "{{ workload.b }}"}
    assert pb.step("start").next == [NextTarget(step="post", args={"value": "{{ start }}"})]
    assert pb.step("post").tool.config()["data"] == {"value": "{{ args.value }}"}
    assert any("`data` on an http step is now the request body" in w for w in warnings)


def test_iterator_becomes_a_loop():
    pb, _, warnings = migrate(
        """\
        apiVersion: noetl.io/v1
        kind: Playbook
        metadata: {name: loop}
        workload:
          cities: [Paris, Oslo]
        workflow:
          - step: start
            type: iterator
            collection: "{{ workload.cities }}"
            element: city
            mode: parallel
            task:
              type: postgres
              sql: "insert into t (city) values (%(city)s)"
              with: {city: "{{ city }}"}
            next: [end]
          - step: end
            type: end
        """
    )
    assert warnings == []
    start = pb.step("start")
    assert (start.loop.in_, start.loop.iterator, start.loop.mode) == (
        "{{ workload.cities }}",
        "city",
        "parallel",
    )
    assert start.tool.kind == "postgres"
    assert start.tool.config() == {"command": "insert into t (city) values (%(city)s)"}
    assert start.args == {"city": "{{ city }}"}


def test_workbook_entries_and_workbook_steps():
    pb, _, _ = migrate(
        """\
        apiVersion: noetl.io/v1
        kind: Playbook
        metadata: {name: wb}
        workbook:
          - name: score
            type: python
            code: |
              def main(x):
                  return {"y": x * 2}
          - task: fetch_it
            type: http
            endpoint: http://x
        workflow:
          - step: start
            type: workbook
            name: score
            with: {x: 2}
            next: second
          - step: second
            type: workbook
            task: fetch_it
        """
    )
    assert [entry.name for entry in pb.workbook] == ["score", "fetch_it"]
    assert pb.workbook_tool("score").config() == {"code": 'def main(x):\n    return {"y": x * 2}\n'}
    assert pb.workbook_tool("fetch_it").kind == "http"
    assert pb.step("start").tool.config() == {"name": "score"}
    assert pb.step("start").args == {"x": 2}
    assert pb.step("second").tool.config() == {"task": "fetch_it"}


def test_v1_5_tool_strings_and_when_step_entries():
    # the shape of noetl's control_flow_workbook fixture
    pb, _, warnings = migrate(
        """\
        apiVersion: noetl.io/v1
        kind: Playbook
        metadata:
          name: control_flow_workbook
          path: tests/fixtures/playbooks/control_flow_workbook
        workload:
          temperature_c: 30
        workbook:
          - name: compute_flag
            tool: python
            assert:
              expects: [temperature_c]
            code: |
              def main(temperature_c):
                  return {"is_hot": float(temperature_c) >= 25.0}
        workflow:
          - step: start
            desc: "Begin"
            next:
              - step: eval_flag
          - step: eval_flag
            tool: workbook
            name: compute_flag
            args:
              temperature_c: "{{ workload.temperature_c }}"
            next:
              - when: "{{ result.is_hot == true }}"
                step: hot_path
              - when: "{{ result.is_hot == false }}"
                step: cold_path
          - step: hot_path
            tool: router
            next:
              - step: end
          - step: cold_path
            tool: router
            next:
              - step: end
          - step: end
            desc: "Finish"
        """
    )
    eval_flag = pb.step("eval_flag")
    assert eval_flag.tool.kind == "workbook"
    assert eval_flag.args == {"temperature_c": "{{ workload.temperature_c }}"}
    assert [rule.then[0].next[0].step for rule in eval_flag.case] == ["hot_path", "cold_path"]
    assert pb.step("hot_path").tool.kind == "noop"
    assert pb.step("end").tool.kind == "noop"
    assert pb.workbook_tool("compute_flag").kind == "python"
    assert any("`assert` was not translated" in w for w in warnings)


def test_retry_becomes_a_rule_and_untranslatable_fields_are_reported():
    pb, _, warnings = migrate(
        """\
        apiVersion: noetl.io/v1
        kind: Playbook
        metadata: {name: r, author: someone}
        executor: {profile: local}
        workflow:
          - step: start
            type: http
            endpoint: http://flaky
            retry: {max_attempts: 4, initial_delay: 0.5, retry_when: "{{ status >= 500 }}"}
            save: {storage: postgres, table: results, from: "{{ result.data }}"}
            as: answer
            next: report
          - step: report
            type: snowflake
            command: select 1
        """
    )
    start = pb.step("start")
    (rule, saved) = start.case
    assert rule.when == (
        "{{ event.name == 'call.done' and error is defined and (error.status >= 500) }}"
    )
    assert rule.then[0].retry.max_attempts == 4
    assert saved.then[0].sink.tool.config()["command"].startswith("INSERT INTO results ")
    assert rule.then[0].retry.initial_delay == 0.5
    report = pb.step("report")
    assert report.tool.kind == "noop"
    assert report.tool.config() == {}
    assert pb.metadata.model_extra == {"author": "someone"}  # v2 metadata is free-form
    joined = "\n".join(warnings)
    assert "metadata.author" not in joined
    for expected in (
        "line 4: top-level `executor`: has no v2 equivalent and was left out",
        "line 9: step 'start' retry.retry_when: rewrote `status` -> `error.status`",
        "line 10: step 'start' save: became a `sink` action with a postgres tool",
        "line 10: step 'start' save: moved to call.done: rewrote `result` -> `response`",
        "line 11: step 'start': `as` was not translated",
        "line 13: step 'report': `type: snowflake` has no v2 tool kind",
        'its fields were left out: {"command": "select 1"}',
    ):
        assert expected in joined
    assert warnings == sorted(warnings, key=lambda w: int(w.split(":")[0].split()[1]))


def test_missing_start_and_end_are_added_with_a_warning():
    pb, _, warnings = migrate(
        """\
        workflow:
          - step: first
            type: python
            code: "def main(): return 1"
            next: end
        """
    )
    assert [s.step for s in pb.workflow] == ["start", "first", "end"]
    assert pb.step("start").next == [NextTarget(step="first")]
    assert "added a `noop` step `end`: the v1 playbook refers to it" in warnings
    assert "added a `noop` step `start` that goes to 'first'" in warnings


def test_a_condition_that_is_not_one_expression_is_kept_and_reported():
    pb, _, warnings = migrate(
        """\
        workflow:
          - step: start
            type: start
            next:
              - when: "{{ workload.a }} and {{ workload.b }}"
                then: [end]
          - step: end
            type: end
        """
    )
    assert pb.step("start").case[0].when == "{{ workload.a }} and {{ workload.b }}"
    assert any("is not one `{{ expression }}`" in w for w in warnings)


def test_comments_are_kept_above_their_section_or_step():
    _, text, _ = migrate(
        """\
        # Header comment
        apiVersion: noetl.io/v1
        kind: Playbook
        metadata:
          name: c  # the name
        workflow:
          # the first step
          - step: start
            type: python
            code: |
              def main():
                  # not a YAML comment
                  return 1  # nor this
            next: end   # then finish

          - step: end
            type: end
        # trailing comment
        """
    )
    lines = text.splitlines()
    assert lines[0] == "# Header comment"
    assert lines.index("# the name") < lines.index("metadata:")
    first = lines.index("  # the first step")
    assert lines[first + 1] == "  # then finish"
    assert lines[first + 2] == "  - step: start"
    assert "            # not a YAML comment" in lines
    assert "            return 1  # nor this" in lines
    assert lines[-1] == "# trailing comment"


def test_v2_input_is_left_valid():
    v2 = textwrap.dedent(
        """\
        apiVersion: noetl.io/v2
        kind: Playbook
        metadata: {name: already}
        workflow:
          - step: start
            tool: {kind: noop}
            case:
              - when: "{{ event.name == 'step.exit' }}"
                then: {next: [end]}
          - step: end
            tool: {kind: noop}
        """
    )
    text, warnings = migrate_v1_to_v2_with_warnings(v2)
    assert warnings == []
    assert parse_playbook(text) == parse_playbook(v2)


def test_migrate_v1_to_v2_returns_text():
    text = migrate_v1_to_v2("workflow:\n  - step: start\n    type: start\n")
    assert text.startswith("apiVersion: noetl.io/v2\nkind: Playbook\n")


def test_broken_v1_is_an_error_not_a_guess():
    with pytest.raises(MigrationError) as info:
        migrate_v1_to_v2("workflow:\n  - step: start\n    type: start\n    next: nowhere\n")
    assert (
        "line 2: step 'start' next: `next` names step 'nowhere', which does not exist"
        " (migrated line " in str(info.value)
    )
    assert info.value.problems


def test_not_yaml_is_an_error():
    with pytest.raises(MigrationError, match="not valid YAML"):
        migrate_v1_to_v2("workflow: [\n")
    with pytest.raises(MigrationError, match="no `workflow`"):
        migrate_v1_to_v2("name: x\n")
