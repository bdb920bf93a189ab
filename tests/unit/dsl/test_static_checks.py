"""Static checks (DSL.md section 8): names in scope, event names, empty or mistaken actions.

Each problem must name the file, line and column of the offending name, the step and the
field, and suggest the fix when there is a near miss.
"""

from __future__ import annotations

import pytest

from noetl_pg.dsl import PlaybookError, Problem, parse_playbook
from tests.unit.dsl.test_parser import HEADER  # the first step starts on line 6

END = """\
  - step: end
    tool: {kind: noop}
"""


def problems(steps: str, extra: str = "") -> list[Problem]:
    with pytest.raises(PlaybookError) as info:
        parse_playbook(HEADER + steps + END + extra, source="pb.yaml")
    return info.value.problems


def only(steps: str, extra: str = "") -> Problem:
    found = problems(steps, extra)
    assert len(found) == 1, [p.format() for p in found]
    return found[0]


def parses(steps: str, extra: str = "") -> None:
    parse_playbook(HEADER + steps + END + extra, source="pb.yaml")


def test_a_typo_in_when_is_located_and_the_name_suggested():
    problem = only(
        """\
  - step: start
    tool: {kind: http, endpoint: "http://x"}
    case:
      - when: "{{ reponse.data.hasMore }}"
        then: {call: {params: {page: 2}}}
    next: end
"""
    )
    assert (problem.source, problem.line, problem.column) == ("pb.yaml", 9, 19)
    assert (problem.step, problem.field) == ("start", "case[0].when")
    assert "`reponse` is not defined here; did you mean `response`?" in problem.message


def test_a_bare_expression_field_is_checked_too():
    problem = only(
        """\
  - step: start
    tool: {kind: noop}
    case:
      - when: reponse.ok
        then: {next: [end]}
"""
    )
    assert (problem.line, problem.column) == (9, 15)
    assert "did you mean `response`?" in problem.message


def test_a_bare_step_arg_suggests_args():
    problem = only(
        """\
  - step: start
    args: {page_size: 10}
    tool: {kind: http, endpoint: "http://x", params: {size: "{{ page_size }}"}}
    next: end
"""
    )
    assert problem.field == "tool.params.size"
    assert "this step's args are read as `args.page_size`" in problem.message


def test_args_passed_by_next_count_as_the_target_steps_args():
    problem = only(
        """\
  - step: start
    tool: {kind: noop}
    next: [{step: fetch, args: {city: Paris}}]
  - step: fetch
    tool: {kind: http, endpoint: "http://x/{{ city }}"}
    next: end
"""
    )
    assert problem.step == "fetch"
    assert "`args.city`" in problem.message


def test_a_misspelt_step_result_suggests_the_step():
    problem = only(
        """\
  - step: start
    tool: {kind: noop}
    next: fetch_data
  - step: fetch_data
    tool: {kind: noop}
    next: report
  - step: report
    tool: {kind: noop, args: {rows: "{{ fetch_dat.rows }}"}}
    next: end
"""
    )
    assert problem.step == "report"
    assert "did you mean `fetch_data`?" in problem.message


def test_a_ctx_key_nothing_writes_is_an_error_with_a_suggestion():
    problem = only(
        """\
  - step: start
    tool: {kind: noop}
    case:
      - when: "{{ event.name == 'call.done' }}"
        then:
          set: {ctx: {cursor: "{{ response }}"}}
          next: [end]
  - step: use
    tool: {kind: noop, args: {c: "{{ ctx.cursr }}"}}
"""
    )
    assert problem.step == "use"
    assert (problem.line, problem.column) == (14, 38)
    assert "never written" in problem.message and "did you mean `cursor`?" in problem.message


def test_ctx_keys_from_set_shorthand_and_collect_are_in_scope_bare_and_under_ctx():
    parses(
        """\
  - step: start
    tool: {kind: noop}
    case:
      - when: "{{ event.name == 'call.done' }}"
        then:
          - set: {total: 0}
          - collect: {from: "{{ response }}", into: pages}
          - next: [{step: use, args: {n: "{{ total }}"}}]
  - step: use
    tool:
      kind: noop
      args: {a: "{{ ctx.pages }}", b: "{{ pages }}", c: "{{ ctx.total }}", d: "{{ ctx.get('x') }}"}
    next: end
"""
    )


def test_template_locals_and_jinja_globals_are_not_reported():
    parses(
        """\
  - step: start
    tool:
      kind: noop
      args:
        text: "{% for x in workload.items %}{{ x }}{% endfor %}{% set y = 1 %}{{ y }}"
        nums: "{{ range(3) | list }}"
    next: end
"""
    )


def test_a_loop_iterator_is_in_scope_only_in_its_loop_step():
    found = problems(
        """\
  - step: start
    loop: {in: "{{ workload.cities }}", iterator: city}
    tool: {kind: noop, args: {c: "{{ city }}", i: "{{ loop.index }}"}}
    next: after
  - step: after
    tool: {kind: noop, args: {c: "{{ city }}"}}
    next: end
"""
    )
    assert [(p.step, p.field) for p in found] == [("after", "tool.args.c")]


def test_event_names_in_when_must_be_events():
    problem = only(
        """\
  - step: start
    tool: {kind: noop}
    case:
      - when: "{{ event.name == 'call.error' }}"
        then: {retry: {max_attempts: 3}}
    next: end
"""
    )
    assert (problem.line, problem.column) == (9, 33)
    assert "'call.error', which is no event" in problem.message
    assert "event.name == 'call.done' and error is defined" in problem.message


def test_event_names_in_a_list_are_checked():
    problem = only(
        """\
  - step: start
    tool: {kind: noop}
    case:
      - when: "{{ event.name in ['call.done', 'step.exitt'] }}"
        then: {next: [end]}
"""
    )
    assert "did you mean `step.exit`?" in problem.message


def test_a_name_in_a_block_scalar_is_located_on_its_own_line():
    problem = only(
        """\
  - step: start
    args:
      x: |
        first line
        {{ worklaod.x }}
    tool:
      kind: python
      code: |
        def main(x):
            return x
    next: end
"""
    )
    assert (problem.line, problem.column) == (10, 12)
    assert "did you mean `workload`?" in problem.message


def test_workbook_tools_see_the_names_of_any_calling_step():
    parses(
        """\
  - step: start
    loop: {in: "{{ workload.xs }}", iterator: x}
    tool: {kind: workbook, task: double}
    next: end
""",
        """\
workbook:
  - name: double
    tool: {kind: http, endpoint: "http://x/{{ x }}"}
""",
    )


def test_an_empty_then_is_an_error():
    problem = only(
        """\
  - step: start
    tool: {kind: noop}
    case:
      - when: "{{ event.name == 'call.done' }}"
        then: {}
    next: end
"""
    )
    assert (problem.step, problem.field) == ("start", "case[0].then")
    assert "empty `then`" in problem.message


def test_call_with_a_step_is_an_error_pointing_at_next():
    problem = only(
        """\
  - step: start
    tool: {kind: noop}
    case:
      - when: "{{ event.name == 'call.done' }}"
        then: {call: {step: end}}
"""
    )
    assert problem.field == "case[0].then.call.step"
    assert "write `next: [end]`" in problem.message


def test_metadata_is_free_form_beyond_name_path_and_version():
    pb = parse_playbook(
        HEADER.replace("  name: t\n", "  name: t\n  labels: {team: data}\n  owner: ops\n")
        + "  - step: start\n    tool: {kind: noop}\n",
        source="pb.yaml",
    )
    assert pb.metadata.model_extra == {"labels": {"team": "data"}, "owner": "ops"}
    assert pb.metadata.path == "t"


def test_a_retention_is_a_number_and_a_unit():
    problem = only("  - step: start\n    tool: {kind: noop}\n    next: end\n", "retention: soon\n")
    assert problem.field == "retention"
    assert "retention must be a whole number and a unit" in problem.message
    assert "'soon'" in problem.message


def test_a_retention_is_kept_as_written():
    parses("  - step: start\n    tool: {kind: noop}\n    next: end\n", "retention: 7d\n")
