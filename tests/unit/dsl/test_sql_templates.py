"""Values reach SQL as bound parameters unless a playbook opts in to templated SQL text."""

from __future__ import annotations

import pytest

from noetl_pg.dsl import PlaybookError, parse_playbook

HEAD = "apiVersion: noetl.io/v2\nkind: Playbook\nmetadata: {name: sql}\nworkflow:\n"


def test_a_template_in_sql_text_is_refused_naming_the_line_and_the_fix():
    text = HEAD + (
        "  - step: start\n"
        "    tool:\n"
        "      kind: postgres\n"
        '      query: "SELECT * FROM t WHERE id = {{ workload.id }}"\n'
    )
    with pytest.raises(PlaybookError) as caught:
        parse_playbook(text, source="p.yaml")
    [problem] = caught.value.problems
    assert (problem.source, problem.line, problem.step) == ("p.yaml", 6, "start")
    assert "`query` contains a template" in problem.message
    assert "params" in problem.message and "template_sql: true" in problem.message


def test_template_sql_true_opts_in():
    text = HEAD + (
        "  - step: start\n"
        "    tool:\n"
        "      kind: postgres\n"
        "      template_sql: true\n"
        '      command: "CREATE TABLE {{ workload.table }} (id int)"\n'
    )
    tool = parse_playbook(text).step("start").tool
    assert tool.config()["template_sql"] is True


def test_bound_params_with_templates_are_fine():
    text = HEAD + (
        "  - step: start\n"
        "    tool:\n"
        "      kind: postgres\n"
        '      query: "SELECT * FROM t WHERE id = %(id)s"\n'
        '      params: {id: "{{ workload.id }}"}\n'
    )
    assert parse_playbook(text).step("start").tool.config()["params"] == {"id": "{{ workload.id }}"}


def test_a_call_cannot_slip_a_templated_query_in():
    text = HEAD + (
        "  - step: start\n"
        '    tool: {kind: postgres, query: "SELECT 1"}\n'
        "    case:\n"
        "      - when: \"{{ event.name == 'call.done' }}\"\n"
        "        then:\n"
        '          call: {query: "SELECT {{ response.rows[0] }}"}\n'
    )
    with pytest.raises(PlaybookError) as caught:
        parse_playbook(text, source="p.yaml")
    [problem] = caught.value.problems
    assert problem.line == 10
    assert "`call.query` contains a template" in problem.message


def test_template_sql_must_be_a_boolean():
    text = HEAD + (
        '  - step: start\n    tool: {kind: postgres, query: "SELECT 1", template_sql: "yes"}\n'
    )
    with pytest.raises(PlaybookError, match="template_sql` must be true or false"):
        parse_playbook(text)
