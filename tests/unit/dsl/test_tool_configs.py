"""Tool configs: one model per kind, unknown fields refused by name, templates allowed
wherever a value goes, and every error located in the playbook."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from noetl_pg.dsl import PlaybookError, Tool, parse_playbook
from noetl_pg.protocol.tools import (
    KNOWN_TOOL_KINDS,
    ToolConfig,
    config_error_message,
    parse_tool_config,
)
from noetl_pg.worker.tools.http import HttpConfig
from tests.unit.dsl.test_parser import HEADER  # the first step starts on line 6


def only_problem(steps: str) -> str:
    with pytest.raises(PlaybookError) as caught:
        parse_playbook(HEADER + steps, source="pb.yaml")
    [problem] = caught.value.problems
    return problem.format()


def config_error(data: dict, *, rendered: bool = False) -> str:
    with pytest.raises(ValidationError) as caught:
        parse_tool_config(data, rendered=rendered)
    return config_error_message(caught.value)


def test_a_misspelt_field_is_refused_with_the_field_it_resembles():
    assert only_problem("  - step: start\n    tool:\n      kind: http\n      endpiont: x\n") == (
        "pb.yaml:9:7: start.tool.endpiont: unknown field 'endpiont' of http tool;"
        " did you mean 'endpoint'?"
    )


def test_an_unknown_field_with_no_near_miss_lists_the_fields():
    message = config_error({"kind": "python", "code": "x", "entrypoint": "main"})
    assert message == "unknown field 'entrypoint' of python tool; its fields: code, timeout"


def test_a_misspelt_kind_is_refused_with_the_kind_it_resembles():
    assert only_problem("  - step: start\n    tool: {kind: htpp, endpoint: x}\n") == (
        "pb.yaml:7:12: start.tool.kind: unknown tool kind 'htpp' (did you mean 'http'?);"
        " known kinds: duckdb, http, noop, playbook, postgres, python, wait, workbook"
    )


def test_a_field_inside_a_part_is_checked_too():
    steps = "  - step: start\n    tool:\n      kind: http\n      endpoint: x\n"
    assert only_problem(steps + "      auth: {type: bearer, tokn: t}\n") == (
        "pb.yaml:10:28: start.tool.auth.tokn: unknown field 'tokn' of http `auth`;"
        " did you mean 'token'?"
    )
    assert "http `auth` of type bearer needs `token`" in only_problem(
        steps + "      auth: {type: bearer}\n"
    )


def test_a_sink_tool_is_checked_where_it_is_written():
    steps = (
        "  - step: start\n    tool: {kind: noop}\n    case:\n"
        "      - when: \"{{ event.name == 'call.done' }}\"\n"
        "        then:\n          sink: {tool: {kind: postgres, querry: x}}\n"
    )
    assert only_problem(steps) == (
        "pb.yaml:11:41: start.case[0].then.sink.tool.querry: unknown field 'querry' of"
        " postgres tool; did you mean 'query'?"
    )


def test_a_value_of_the_wrong_type_names_its_field():
    assert only_problem("  - step: start\n    tool: {kind: http, url: x, timeout: abc}\n") == (
        "pb.yaml:7:32: start.tool.timeout: Input should be a valid number, unable to parse"
        " string as a number (got 'abc')"
    )


@pytest.mark.parametrize(
    "tool",
    [
        {"kind": "http", "endpoint": "x", "method": "{{ workload.m }}"},
        {"kind": "http", "endpoint": "x", "timeout": "{{ workload.t }}"},
        {"kind": "http", "endpoint": "x", "headers": "{{ workload.headers }}"},
        {"kind": "http", "endpoint": "x", "params": "{{ ctx.query }}"},
        {"kind": "http", "endpoint": "x", "auth": "{{ workload.auth }}"},
        {"kind": "http", "endpoint": "x", "auth": {"token": "t", "type": "{{ workload.Auth }}"}},
        {"kind": "postgres", "query": "SELECT %(a)s", "params": "{{ args }}"},
        {"kind": "postgres", "query": "SELECT 1", "timeout": "{{ workload.t }}"},
        {"kind": "python", "code": "def main(): 1", "timeout": "{% if x %}1{% endif %}"},
        {"kind": "playbook", "path": "child", "args": "{{ ctx.child_args }}"},
        {"kind": "workbook", "task": "score", "with": "{{ ctx.scored }}"},
    ],
)
def test_a_template_may_stand_in_for_any_value_until_it_is_rendered(tool):
    assert parse_tool_config(tool).kind == tool["kind"]
    templated_field = list(tool)[-1]
    assert templated_field in config_error(tool, rendered=True)


@pytest.mark.parametrize(
    "tool",
    [  # every field DSL.md section 6 and docs/worker.md name
        {
            "kind": "http",
            "method": "post",
            "endpoint": "http://h/x",
            "headers": {"X-N": 1},
            "params": {"page": 2},
            "json": {"a": [1]},
            "timeout": 2.5,
            "auth": {"type": "Basic", "username": "u", "password": 1234},
        },
        {
            "kind": "http",
            "url": "http://h",
            "data": {"a": 1},
            "auth": {"type": "bearer", "token": "t"},
        },
        {"kind": "http", "url": "http://h", "data": "raw text"},
        {
            "kind": "postgres",
            "command": "SELECT {{ workload.column }} FROM t WHERE id = %(id)s",
            "template_sql": True,
            "params": {"id": "{{ workload.id }}"},
            "connection": "warehouse",
            "timeout": 5,
        },
        {"kind": "postgres", "query": "SELECT %s", "params": [1], "auth": "postgresql://h/db"},
        {"kind": "python", "code": "def main(a): return a", "timeout": 10},
        {"kind": "workbook", "name": "score", "args": {"x": 1}},
        {"kind": "playbook", "path": "child", "version": 2, "args": {"n": 1}},
        {"kind": "noop", "anything": {"at": "all"}},  # noop ignores its fields
    ],
)
def test_every_documented_field_is_accepted(tool):
    assert isinstance(parse_tool_config(tool), ToolConfig)
    assert Tool.model_validate(tool).config() == {k: v for k, v in tool.items() if k != "kind"}


def test_the_rendered_config_is_typed_for_the_worker():
    config = parse_tool_config(
        {"kind": "http", "url": "http://h", "method": "post", "timeout": "5", "json": [1]},
        rendered=True,
    )
    assert isinstance(config, HttpConfig)
    assert (config.method, config.timeout, config.json_body) == ("POST", 5.0, [1])


@pytest.mark.parametrize(
    ("tool", "message"),
    [
        ({"kind": "http", "url": "x", "timeout": 0}, "`timeout`: Input should be greater than 0"),
        ({"kind": "http", "url": "x", "auth": {"type": "digest"}}, "`auth.type`: Input should be"),
        ({"kind": "http", "url": "x", "headers": ["a"]}, "`headers`: Input should be a valid"),
        ({"kind": "python", "code": "  "}, "python tool needs `code` defining main(...)"),
        ({"kind": "playbook"}, "playbook tool needs `path` (the catalog path of the child"),
        ({"kind": "postgres", "query": "x", "template_sql": 1}, "`template_sql` must be true or"),
        ({"kind": "postgres", "query": "SELECT {{ x }}"}, "`query` contains a template"),
        ({"kind": "workbook"}, "workbook tool needs `task` (or `name`)"),
    ],
)
def test_bad_values_say_what_is_wrong(tool, message):
    assert message in config_error(tool)


def test_rendered_sql_text_is_not_checked_for_templates_again():
    # The engine rendered it on purpose (`template_sql`); what is left is data.
    assert parse_tool_config({"kind": "postgres", "query": "SELECT '{{'"}, rendered=True)


@pytest.mark.parametrize("kind", [kind for kind in KNOWN_TOOL_KINDS if kind != "noop"])
def test_every_kind_of_the_registry_refuses_unknown_fields(kind):
    message = config_error({"kind": kind, "not_a_field_of_any_kind": 1})
    assert f"unknown field 'not_a_field_of_any_kind' of {kind} tool" in message
