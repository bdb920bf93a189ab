"""The models: shapes, shorthands and kind-specific tool checks."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from noetl_pg.dsl import (
    CaseEntry,
    Collect,
    Fail,
    Loop,
    NextTarget,
    Playbook,
    ResultAction,
    Retry,
    Sink,
    Skip,
    Step,
    Then,
    Tool,
)


def step(**fields):
    return Step.model_validate({"step": "s", "tool": {"kind": "noop"}, **fields})


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("b", [NextTarget(step="b")]),
        (["b", "c"], [NextTarget(step="b"), NextTarget(step="c")]),
        (
            [{"step": "b", "args": {"x": 1}}, "c"],
            [NextTarget(step="b", args={"x": 1}), NextTarget(step="c")],
        ),
        ({"step": "b"}, [NextTarget(step="b")]),
        (None, []),
    ],
)
def test_next_accepts_every_spelling(raw, expected):
    assert step(next=raw).next == expected


def test_then_next_accepts_every_spelling():
    assert Then.model_validate({"next": "b"}).next == [NextTarget(step="b")]
    assert Then.model_validate({"next": [{"step": "b", "args": {"a": 1}}]}).next == [
        NextTarget(step="b", args={"a": 1})
    ]


def test_case_then_single_mapping_becomes_a_list():
    entry = CaseEntry.model_validate({"when": "x", "then": {"next": "b"}})
    assert len(entry.then) == 1
    assert entry.then[0].next == [NextTarget(step="b")]


def test_set_is_kept_raw():
    then = Then.model_validate({"set": {"ctx": {"k": "{{ x }}"}}})
    assert then.set == {"ctx": {"k": "{{ x }}"}}
    assert then.actions() == ["set"]


def test_collect_defaults_and_alias():
    collect = Then.model_validate({"collect": {"from": "response.items", "into": "items"}}).collect
    assert collect == Collect(from_="response.items", into="items", mode="append")
    with pytest.raises(ValidationError):
        Collect.model_validate({"from": "x", "into": "y", "mode": "merge"})


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ({"from": "ctx.items"}, ResultAction(from_="ctx.items")),
        (42, ResultAction(value=42)),
        ({"a": 1}, ResultAction(value={"a": 1})),
        ("{{ x }}", ResultAction(value="{{ x }}")),
        (None, ResultAction(value=None)),
    ],
)
def test_result_forms(raw, expected):
    then = Then.model_validate({"result": raw})
    assert then.result == expected


def test_result_from_takes_no_other_keys():
    with pytest.raises(ValidationError, match="takes no other keys"):
        Then.model_validate({"result": {"from": "x", "other": 1}})


def test_retry_defaults_and_delay():
    retry = Then.model_validate({"retry": None}).retry
    assert retry == Retry()
    assert (retry.max_attempts, retry.initial_delay, retry.backoff_multiplier, retry.max_delay) == (
        3,
        1.0,
        2.0,
        60.0,
    )
    retry = Retry(initial_delay=0.5, backoff_multiplier=3, max_delay=10)
    assert [retry.delay_for(n) for n in (1, 2, 3, 4)] == [0.5, 1.5, 4.5, 10]


def test_retry_rejects_nonsense():
    with pytest.raises(ValidationError):
        Retry(max_attempts=0)
    with pytest.raises(ValidationError):
        Retry(initial_delay=-1)


def test_fail_and_skip_accept_bare_strings():
    assert Then.model_validate({"fail": "boom"}).fail == Fail(message="boom")
    assert Then.model_validate({"fail": {}}).fail == Fail(message="failed")
    assert Then.model_validate({"skip": "nothing to do"}).skip == Skip(reason="nothing to do")
    assert Then.model_validate({"skip": None}).skip == Skip(reason="")


def test_call_and_sink():
    then = Then.model_validate(
        {
            "call": {"params": {"page": "{{ n }}"}},
            "sink": {"tool": {"kind": "postgres", "command": "insert"}, "args": {"a": 1}},
        }
    )
    assert then.call == {"params": {"page": "{{ n }}"}}
    assert then.sink == Sink(tool=Tool(kind="postgres", command="insert"), args={"a": 1})
    assert then.actions() == ["call", "sink"]


def test_then_rejects_unknown_action():
    with pytest.raises(ValidationError):
        Then.model_validate({"goto": "x"})


def test_actions_order():
    then = Then.model_validate(
        {"next": "a", "set": {}, "result": 1, "collect": {"from": "x", "into": "y"}}
    )
    assert then.actions() == ["set", "collect", "result", "next"]


def test_loop():
    loop = Loop.model_validate({"in": "{{ workload.items }}"})
    assert (loop.in_, loop.iterator, loop.mode, loop.max_in_flight) == (
        "{{ workload.items }}",
        "item",
        "sequential",
        None,
    )
    loop = Loop.model_validate(
        {"in": [1, 2], "iterator": "row", "mode": "parallel", "max_in_flight": 2}
    )
    assert loop.in_ == [1, 2]
    with pytest.raises(ValidationError):
        Loop.model_validate({"in": [1], "mode": "async"})
    with pytest.raises(ValidationError):
        Loop.model_validate({"in": [1], "iterator": "not a name"})


@pytest.mark.parametrize(
    ("tool", "message"),
    [
        ({"kind": "http"}, "http tool needs `endpoint`"),
        ({"kind": "http", "endpoint": "x", "method": "FETCH"}, "`method` 'FETCH' is not one of"),
        ({"kind": "postgres"}, "postgres tool needs `query` or `command`"),
        ({"kind": "postgres", "query": "select 1", "params": 5}, "`params` must be a mapping"),
        ({"kind": "python"}, "python tool needs `code`"),
        ({"kind": "workbook"}, "workbook tool needs `task`"),
        ({"kind": "playbook"}, "playbook tool needs `path`"),
        (
            {"kind": "shell", "cmd": "ls"},
            "unknown tool kind 'shell'; known kinds: duckdb, http, noop, playbook, postgres",
        ),
    ],
)
def test_tool_kind_checks(tool, message):
    with pytest.raises(ValidationError, match=message):
        Tool.model_validate(tool)


@pytest.mark.parametrize(
    "tool",
    [
        {"kind": "http", "url": "http://x"},
        {"kind": "http", "endpoint": "http://x", "method": "{{ workload.method }}"},
        {"kind": "postgres", "command": "select 1", "params": [1, 2]},
        {"kind": "python", "code": "def main(): return 1"},
        {"kind": "workbook", "name": "score"},
        {"kind": "playbook", "path": "child"},
        {"kind": "noop"},
    ],
)
def test_valid_tools(tool):
    assert Tool.model_validate(tool).kind == tool["kind"]


def test_tool_config_keeps_original_keys_as_plain_data():
    tool = Tool.model_validate({"kind": "http", "endpoint": "u", "json": {"a": [1]}, "data": "x"})
    config = tool.config()
    assert config == {"endpoint": "u", "json": {"a": [1]}, "data": "x"}
    config["json"]["a"].append(2)
    assert tool.config()["json"] == {"a": [1]}


def test_step_defaults():
    s = step()
    assert (s.args, s.loop, s.max_iterations, s.case, s.next, s.desc) == (
        {},
        None,
        1000,
        [],
        [],
        None,
    )
    with pytest.raises(ValidationError):
        step(max_iterations=0)
    with pytest.raises(ValidationError):
        step(typo=1)


def _playbook(**extra):
    return Playbook.model_validate(
        {
            "apiVersion": "noetl.io/v2",
            "kind": "Playbook",
            "metadata": {"name": "demo"},
            "workbook": [{"name": "score", "tool": {"kind": "python", "code": "def main(): 1"}}],
            "workflow": [
                {"step": "start", "tool": {"kind": "noop"}, "next": "end"},
                {"step": "end", "tool": {"kind": "noop"}},
            ],
            **extra,
        }
    )


def test_playbook_lookups():
    pb = _playbook()
    assert pb.metadata.path == "demo"
    assert pb.api_version == "noetl.io/v2"
    assert list(pb.steps) == ["start", "end"]
    assert pb.steps is pb.steps  # cached
    assert pb.step("end").step == "end"
    with pytest.raises(KeyError, match="no step 'nope'"):
        pb.step("nope")
    assert pb.workbook_tool("score").kind == "python"
    with pytest.raises(KeyError):
        pb.workbook_tool("nope")


def test_playbook_is_frozen():
    pb = _playbook()
    with pytest.raises(ValidationError):
        pb.kind = "x"


def test_metadata_version_number_becomes_text():
    assert (
        _playbook(metadata={"name": "d", "path": "p/d", "version": 2.0}).metadata.version == "2.0"
    )


def test_playbook_requires_v2():
    with pytest.raises(ValidationError, match="noetl-pg migrate"):
        _playbook(apiVersion="noetl.io/v1")
