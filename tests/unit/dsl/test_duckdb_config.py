"""The duckdb tool's config: bound params, templated SQL refused, a missing extra named."""

from __future__ import annotations

import sys

import pytest

from noetl_pg.dsl import PlaybookError, parse_playbook

HEAD = "apiVersion: noetl.io/v2\nkind: Playbook\nmetadata: {name: duck}\nworkflow:\n"
STEP = "  - step: start\n    tool:\n      kind: duckdb\n      query: {query}\n"


def problem_of(query: str) -> str:
    with pytest.raises(PlaybookError) as caught:
        parse_playbook(HEAD + STEP.format(query=query), source="d.yaml")
    [problem] = caught.value.problems
    assert (problem.source, problem.line, problem.step) == ("d.yaml", 6, "start")
    return problem.message


def test_a_duckdb_step_with_bound_params_validates():
    text = HEAD + STEP.format(query="'SELECT $n + 1 AS m'") + "      params: {n: 1}\n"
    assert parse_playbook(text).step("start").tool.kind == "duckdb"


def test_a_template_in_duckdb_sql_text_is_refused_like_postgres():
    message = problem_of('"SELECT {{ workload.n }}"')
    assert "duckdb tool `query` contains a template" in message
    assert "$name" in message and "template_sql: true" in message


def test_without_the_extra_a_duckdb_step_fails_validation_saying_so(monkeypatch):
    monkeypatch.setitem(sys.modules, "duckdb", None)  # what `import duckdb` sees uninstalled
    message = problem_of("'SELECT 1'")
    assert "pip install 'noetl-pg[duckdb]'" in message
