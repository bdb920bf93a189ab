"""Parsing and validation: each check reports the right line, step, field and message."""

from __future__ import annotations

import textwrap

import pytest

from noetl_pg.dsl import PlaybookError, Problem, parse_playbook, parse_playbook_file

HEADER = """\
apiVersion: noetl.io/v2
kind: Playbook
metadata:
  name: t
workflow:
"""  # the first step starts on line 6


def problems(text: str) -> list[Problem]:
    with pytest.raises(PlaybookError) as info:
        parse_playbook(textwrap.dedent(text), source="pb.yaml")
    return info.value.problems


def formatted(text: str) -> list[str]:
    return [p.format() for p in problems(text)]


def only(text: str) -> str:
    found = formatted(text)
    assert len(found) == 1, found
    return found[0]


def test_valid_playbook_parses():
    pb = parse_playbook(
        HEADER
        + """\
  - step: start
    tool: {kind: noop}
    next: end
  - step: end
    tool: {kind: noop}
"""
    )
    assert [s.step for s in pb.workflow] == ["start", "end"]


def test_problem_format():
    assert Problem("f.yaml", 3, 5, "fetch", "tool.kind", "bad").format() == (
        "f.yaml:3:5: fetch.tool.kind: bad"
    )
    assert (
        Problem("f.yaml", 3, 5, None, "apiVersion", "bad").format() == "f.yaml:3:5: apiVersion: bad"
    )
    assert Problem("f.yaml", 3, 5, "fetch", None, "bad").format() == "f.yaml:3:5: fetch: bad"
    assert Problem("f.yaml", 3, 5, None, None, "bad").format() == "f.yaml:3:5: bad"


def test_yaml_syntax_error_keeps_line_and_column():
    text = "apiVersion: noetl.io/v2\nkind: Playbook\nmetadata: {name: t\nworkflow: []\n"
    (problem,) = problems(text)
    assert (problem.line, problem.column) == (4, 9)
    assert problem.message.startswith("YAML syntax error:")


def test_not_a_mapping():
    assert only("- a\n- b\n") == (
        "pb.yaml:1:1: a playbook is a YAML mapping with apiVersion, kind, metadata and workflow; "
        "found a list"
    )
    assert "found an empty document" in only("")


def test_unknown_top_level_key():
    text = (
        HEADER.replace("workflow:", "steps: []\nworkflow:")
        + "  - step: start\n    tool: {kind: noop}\n"
    )
    assert only(text) == (
        "pb.yaml:5:1: steps: unknown top-level key `steps`; expected one of: "
        "apiVersion, kind, metadata, workload, workbook, workflow, timeout, schedules, "
        "concurrency, retention"
    )


def test_missing_required_top_level_fields():
    found = formatted("workload: {}\n")
    assert found == [
        "pb.yaml:1:1: apiVersion: missing `apiVersion: noetl.io/v2`",
        "pb.yaml:1:1: kind: missing `kind: Playbook`",
        "pb.yaml:1:1: metadata: missing `metadata` (at least `metadata: {name: ...}`)",
        "pb.yaml:1:1: workflow: missing `workflow`: the list of steps (one named `start`)",
    ]


def test_missing_metadata_name():
    text = (
        HEADER.replace("  name: t\n", "  path: a/b\n") + "  - step: start\n    tool: {kind: noop}\n"
    )
    assert only(text) == "pb.yaml:3:1: metadata.name: missing `metadata.name`"


def test_wrong_api_version_and_kind():
    text = (
        HEADER.replace("noetl.io/v2", "noetl.io/v1").replace("kind: Playbook", "kind: Job")
        + "  - step: start\n    tool: {kind: noop}\n"
    )
    assert formatted(text) == [
        "pb.yaml:1:1: apiVersion: apiVersion must be 'noetl.io/v2', not 'noetl.io/v1'; "
        "run `noetl-pg migrate` to convert a v1 playbook",
        "pb.yaml:2:1: kind: kind must be 'Playbook', not 'Job'",
    ]


def test_step_without_tool():
    assert only(HEADER + "  - step: start\n    desc: nothing\n") == (
        "pb.yaml:6:5: start.tool: step has no `tool`; write `tool: {kind: ..., ...}` "
        "(`kind: noop` for none)"
    )


def test_step_without_tool_kind():
    assert only(HEADER + "  - step: start\n    tool: {endpoint: x}\n") == (
        "pb.yaml:7:5: start.tool.kind: `tool` has no `kind`; known kinds: "
        "duckdb, http, noop, playbook, postgres, python, wait, workbook"
    )


def test_unknown_tool_kind_lists_known_kinds():
    assert only(HEADER + "  - step: start\n    tool:\n      kind: shell\n") == (
        "pb.yaml:8:7: start.tool.kind: unknown tool kind 'shell'; known kinds: "
        "duckdb, http, noop, playbook, postgres, python, wait, workbook"
    )


def test_kind_specific_tool_config():
    assert only(HEADER + "  - step: start\n    tool: {kind: http, method: GET}\n") == (
        "pb.yaml:7:5: start.tool: http tool needs `endpoint` (or `url`)"
    )


def test_v1_type_field():
    text = (
        HEADER
        + "  - step: start\n    tool: {kind: noop}\n    next: fetch\n"
        + "  - step: fetch\n    type: http\n    endpoint: x\n"
    )
    assert only(text) == (
        "pb.yaml:10:5: fetch.type: step 'fetch': `type: http` is v1 syntax; "
        "write `tool: {kind: http, ...}`"
    )


def test_v1_tool_string():
    assert only(HEADER + "  - step: start\n    tool: python\n    code: x\n") == (
        "pb.yaml:7:5: start.tool: `tool: python` is v1 syntax; write `tool: {kind: python, ...}`"
    )


def test_v1_with():
    assert only(HEADER + "  - step: start\n    tool: {kind: noop}\n    with: {a: 1}\n") == (
        "pb.yaml:8:5: start.with: `with:` is v1 syntax; write `args:`"
    )


def test_v1_next_with_when_then_else():
    text = HEADER + textwrap.dedent(
        """\
          - step: start
            tool: {kind: noop}
            next:
              - when: "{{ x }}"
                then: [end]
              - else: [end]
          - step: end
            tool: {kind: noop}
        """
    ).replace("\n", "\n  ").rstrip(" ").replace("- step: start", "  - step: start", 1)
    found = formatted(text)
    assert len(found) == 2, found
    assert found[0].startswith(
        "pb.yaml:9:9: start.next[0]: a `next` entry with `when/then` is v1 syntax"
    )
    assert "write a `case` rule instead" in found[0]
    assert found[1].startswith(
        "pb.yaml:11:9: start.next[1]: a `next` entry with `else` is v1 syntax"
    )


def test_case_entry_without_when_or_then():
    text = HEADER + (
        "  - step: start\n"
        "    tool: {kind: noop}\n"
        "    case:\n"
        "      - then: {skip: done}\n"
        '      - when: "{{ true }}"\n'
    )
    assert formatted(text) == [
        "pb.yaml:9:9: start.case[0].when: case entry has no `when`",
        "pb.yaml:10:9: start.case[1].then: case entry has no `then`",
    ]


def test_unknown_then_action():
    text = HEADER + (
        "  - step: start\n"
        "    tool: {kind: noop}\n"
        "    case:\n"
        '      - when: "{{ true }}"\n'
        "        then:\n"
        "          goto: end\n"
    )
    assert only(text) == (
        "pb.yaml:11:11: start.case[0].then.goto: unknown action `goto`; actions are: "
        "set, collect, result, call, retry, next, fail, skip, sink"
    )


def test_then_with_a_step_suggests_next():
    text = HEADER + (
        "  - step: start\n"
        "    tool: {kind: noop}\n"
        "    case:\n"
        '      - when: "{{ true }}"\n'
        "        then: [{step: start}]\n"
    )
    assert only(text) == (
        "pb.yaml:10:17: start.case[0].then[0].step: `then` holds actions, not steps; "
        "to start step 'start' write `next: [start]`"
    )


def test_duplicate_step_name():
    text = (
        HEADER
        + "  - step: start\n    tool: {kind: noop}\n  - step: start\n    tool: {kind: noop}\n"
    )
    assert (
        only(text)
        == "pb.yaml:8:5: start.step: duplicate step name 'start' (first defined at line 6)"
    )


def test_missing_start_step():
    assert only(HEADER + "  - step: begin\n    tool: {kind: noop}\n") == (
        "pb.yaml:5:1: workflow: no step named `start`; every workflow begins at its `start` step"
    )


def test_unknown_structural_next_target():
    text = (
        HEADER
        + "  - step: start\n    tool: {kind: noop}\n    next: [end, fetch]\n"
        + "  - step: fetsh\n    tool: {kind: noop}\n"
    )
    assert formatted(text) == [
        "pb.yaml:8:12: start.next[0]: `next` names step 'end', which does not exist",
        "pb.yaml:8:17: start.next[1]: `next` names step 'fetch', which does not exist; "
        "did you mean 'fetsh'?",
    ]


def test_unknown_next_target_in_a_mapping():
    text = (
        HEADER
        + "  - step: start\n    tool: {kind: noop}\n    next:\n      - {step: nowhere, args: {}}\n"
    )
    assert (
        only(text)
        == "pb.yaml:9:10: start.next[0].step: `next` names step 'nowhere', which does not exist"
    )


def test_unknown_then_next_target():
    text = HEADER + (
        "  - step: start\n"
        "    tool: {kind: noop}\n"
        "    case:\n"
        "      - when: \"{{ event.name == 'step.exit' }}\"\n"
        "        then: {next: [{step: later}]}\n"
    )
    assert only(text) == (
        "pb.yaml:10:24: start.case[0].then.next[0].step: `then.next` names step 'later', "
        "which does not exist"
    )


def test_template_that_does_not_compile_inline():
    text = HEADER + '  - step: start\n    tool: {kind: noop}\n    args:\n      x: "{{ a + }}"\n'
    assert only(text) == (
        "pb.yaml:9:10: start.args.x: template '{{ a + }}' does not compile: "
        "unexpected 'end of template'"
    )


def test_template_error_line_inside_a_block_scalar():
    text = HEADER + (
        "  - step: start\n"
        "    tool:\n"
        "      kind: postgres\n"
        "      template_sql: true\n"
        "      query: |\n"
        "        select 1\n"
        "        where x = {{ workload.x | nosuchfilter }}\n"
    )
    found = only(text)
    assert found.startswith("pb.yaml:12:9: start.tool.query: template ")
    assert found.endswith(
        "does not compile: No filter named 'nosuchfilter'. (line 2 of the template)"
    )


def test_bare_expression_fields_are_compiled():
    text = HEADER + (
        "  - step: start\n"
        "    tool: {kind: noop}\n"
        "    case:\n"
        "      - when: event.name ==\n"
        '        then: {collect: {from: "response.items[", into: items}}\n'
    )
    found = formatted(text)
    assert found[0].startswith(
        "pb.yaml:9:15: start.case[0].when: template 'event.name ==' does not compile"
    )
    assert found[1].startswith("pb.yaml:10:32: start.case[0].then.collect.from: template")


def test_unknown_workbook_task():
    text = (
        HEADER.replace(
            "workflow:", "workbook:\n  - name: score\n    tool: {kind: python, code: x}\nworkflow:"
        )
        + "  - step: start\n    tool: {kind: workbook, task: scor}\n"
    )
    assert only(text) == (
        "pb.yaml:10:28: start.tool.task: workbook task 'scor' does not exist "
        "(workbook entries: score); did you mean 'score'?"
    )


def test_loop_without_in():
    text = HEADER + "  - step: start\n    tool: {kind: noop}\n    loop: {iterator: x}\n"
    assert only(text) == (
        "pb.yaml:8:5: start.loop.in: loop has no `in`: the list (or template) to iterate over"
    )


def test_wrong_types_map_to_the_field_line():
    text = HEADER + (
        "  - step: start\n"
        "    tool: {kind: noop}\n"
        "    max_iterations: lots\n"
        "    loop:\n"
        "      in: [1]\n"
        "      mode: async\n"
    )
    assert formatted(text) == [
        "pb.yaml:8:5: start.max_iterations: Input should be a valid integer, unable to parse "
        "string as an integer (got 'lots')",
        "pb.yaml:11:7: start.loop.mode: Input should be 'sequential' or 'parallel' (got 'async')",
    ]


def test_unknown_step_field_lists_the_allowed_ones():
    assert only(HEADER + "  - step: start\n    tool: {kind: noop}\n    retries: 3\n") == (
        "pb.yaml:8:5: start.retries: unknown field `retries`; expected one of: "
        "step, desc, args, loop, max_iterations, timeout, priority, concurrency, tool, case, next"
    )


def test_duplicate_yaml_key():
    text = HEADER + "  - step: start\n    tool: {kind: noop}\n    args: {}\n    args: {a: 1}\n"
    assert only(text) == (
        "pb.yaml:9:5: start.args: duplicate key `args` (first at line 8); "
        "YAML would keep only the last"
    )


def test_errors_are_collected_in_line_order():
    text = HEADER.replace("kind: Playbook", "kind: Book") + (
        "  - step: start\n"
        "    tool: {kind: nope}\n"
        "    next: missing\n"
        "  - step: other\n"
        "    type: http\n"
    )
    found = problems(text)
    assert [p.line for p in found] == [2, 7, 8, 10]
    assert str(PlaybookError(found)).count("\n") == 3


def test_step_without_a_name():
    text = HEADER + "  - step: start\n    tool: {kind: noop}\n  - tool: {kind: noop}\n"
    assert only(text) == "pb.yaml:8:5: workflow[1].step: step has no name: write `step: NAME`"


def test_parse_playbook_file_names_the_file(tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_text(HEADER + "  - step: begin\n    tool: {kind: noop}\n")
    with pytest.raises(PlaybookError) as info:
        parse_playbook_file(path)
    assert info.value.problems[0].source == str(path)
    assert str(info.value).startswith(f"{path}:5:1: workflow: no step named `start`")


def test_empty_workflow():
    assert only(HEADER.replace("workflow:", "workflow: []")) == (
        "pb.yaml:5:1: workflow: the workflow has no steps; it needs at least a `start` step"
    )


def test_step_that_is_not_a_mapping():
    assert formatted(HEADER + "  - step: start\n    tool: {kind: noop}\n  - other\n") == [
        "pb.yaml:8:5: workflow[1]: expected a mapping (key: value), got a string"
    ]


def test_tool_that_is_a_list():
    assert only(HEADER + "  - step: start\n    tool: [noop]\n") == (
        "pb.yaml:7:5: start.tool: expected a mapping (key: value), got a list"
    )


def test_swapped_letters_get_a_suggestion():
    text = HEADER + "  - step: start\n    tool: {kind: noop}\n    next: ned\n"
    text += "  - step: end\n    tool: {kind: noop}\n"
    assert only(text) == (
        "pb.yaml:8:5: start.next: `next` names step 'ned', which does not exist; "
        "did you mean 'end'?"
    )


@pytest.mark.parametrize("name", ["result", "event", "workload", "loop"])
def test_a_step_may_not_take_a_reserved_template_name(name):
    text = HEADER + (
        "  - step: start\n"
        "    tool: {kind: noop}\n"
        f"    next: {name}\n"
        f"  - step: {name}\n"
        "    tool: {kind: noop}\n"
    )
    found = only(text)
    assert f"step name {name!r} is a reserved template name" in found
    assert found.startswith("pb.yaml:9:")
