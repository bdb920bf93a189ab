"""Templates: native values, caching, the sandbox, `when`, filters and secrets."""

from __future__ import annotations

import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from noetl_pg.dsl import (
    SECRET_PLACEHOLDER,
    TemplateError,
    compile_check,
    compile_count,
    evaluate,
    evaluate_when,
    render_value,
    resolve_secrets,
)

SCOPE = {
    "workload": {"items": [1, 2, 3], "name": "ada", "base_url": "http://h"},
    "response": {"data": {"items": [{"id": 1}], "page": 2, "has_more": False}},
    "ctx": {"n": 0},
    "flag": True,
    "nothing": None,
}


@pytest.mark.parametrize(
    ("template", "expected"),
    [
        ("{{ workload.items }}", [1, 2, 3]),
        ("  {{ response.data }}  ", {"items": [{"id": 1}], "page": 2, "has_more": False}),
        ("{{ response.data.page + 1 }}", 3),
        ("{{ flag }}", True),
        ("{{ nothing }}", None),
        ("{{ {'a': {'b': 1}} }}", {"a": {"b": 1}}),
        ("{{ workload.items | length }}", 3),
        ("page {{ response.data.page }}", "page 2"),
        ("{{ workload.name }}-{{ response.data.page }}", "ada-2"),
        ("{% if flag %}yes{% endif %}", "yes"),
        ("no template here", "no template here"),
    ],
)
def test_native_values_and_text(template, expected):
    assert render_value(template, SCOPE) == expected


def test_render_walks_containers_and_keeps_non_strings():
    value = {"a": ["{{ workload.items }}", 5, None], "b": ("{{ ctx.n }}", 1.5), "c": {"d": "x"}}
    assert render_value(value, SCOPE) == {"a": [[1, 2, 3], 5, None], "b": (0, 1.5), "c": {"d": "x"}}


def test_plain_strings_are_not_compiled():
    before = compile_count()
    for index in range(50):
        assert render_value(f"plain text {index}", SCOPE) == f"plain text {index}"
    assert compile_count() == before


def test_each_template_is_compiled_once():
    template = "{{ ctx.n + 41 }} unique-template-for-cache-test"
    before = compile_count()
    for _ in range(200):
        assert render_value(template, SCOPE) == "41 unique-template-for-cache-test"
    assert compile_count() == before + 1


def test_each_expression_is_compiled_once():
    before = compile_count()
    for _ in range(100):
        assert evaluate("response.data.page * 1000 + 7", SCOPE) == 2007
    assert compile_count() == before + 1


@pytest.mark.parametrize(
    "template",
    [
        "{{ ''.__class__.__mro__ }}",
        "{{ cycler.__init__.__globals__ }}",
        "{{ ''.__class__.__mro__[1].__subclasses__() }}",
        "{{ (1).__class__ }}",
        "text {{ joiner.__init__.__globals__.os }}",
    ],
)
def test_sandbox_refuses_escapes(template):
    with pytest.raises(TemplateError, match="unsafe") as info:
        render_value(template, SCOPE)
    assert template in str(info.value)


def test_sandbox_refuses_escape_in_evaluate():
    with pytest.raises(TemplateError, match="unsafe"):
        evaluate("''.__class__.__mro__", SCOPE)


def test_undefined_names_raise_template_error():
    with pytest.raises(TemplateError, match="'missing' is undefined"):
        render_value("{{ missing }}", SCOPE)
    with pytest.raises(TemplateError, match="has no attribute 'nope'"):
        render_value("x {{ response.nope }}", SCOPE)


def test_syntax_error_is_a_template_error():
    with pytest.raises(TemplateError, match="does not compile"):
        render_value("{{ a + }}", SCOPE)


@pytest.mark.parametrize(
    ("expr", "expected"),
    [
        ("response.data.items", [{"id": 1}]),
        ("{{ response.data.items }}", [{"id": 1}]),
        ("workload.items[1:]", [2, 3]),
        ("ctx.n + 1", 1),
    ],
)
def test_evaluate(expr, expected):
    assert evaluate(expr, SCOPE) == expected


@pytest.mark.parametrize(
    ("when", "expected"),
    [
        ("{{ flag }}", True),
        ("{{ response.data.has_more }}", False),
        ("flag and ctx.n == 0", True),
        ("{{ response.data.page }} is {{ 'false' }}", True),
        ("{{ 'False' }} ", False),
        ("{{ workload.items }}", True),
        ("{{ [] }}", False),
    ],
)
def test_evaluate_when(when, expected):
    assert evaluate_when(when, SCOPE) == (expected, None)


def test_when_that_raises_is_false_with_a_reason():
    matched, reason = evaluate_when("{{ error.status == 500 }}", SCOPE)
    assert matched is False
    assert "{{ error.status == 500 }}" in reason
    assert "'error' is undefined" in reason
    matched, reason = evaluate_when("{{ 1 / 0 }}", SCOPE)
    assert (matched, "ZeroDivisionError" in reason) == (False, True)


def test_error_is_defined_idiom():
    assert evaluate_when("{{ error is defined }}", SCOPE) == (False, None)
    assert evaluate_when("{{ error is defined }}", {"error": {"status": 503}}) == (True, None)


def test_filters():
    scope = {"v": {"a": [1, "é"]}, "s": "user:pw", "n": "42", "f": "2.5", "j": '{"k": [1]}'}
    assert render_value("{{ v | tojson }}", scope) == '{"a": [1, "é"]}'
    assert render_value("{{ s | b64encode }}", scope) == "dXNlcjpwdw=="
    assert render_value("{{ 'dXNlcjpwdw==' | b64decode }}", scope) == "user:pw"
    assert render_value("{{ n | int + 1 }}", scope) == 43
    assert render_value("{{ f | float * 2 }}", scope) == 5.0
    assert render_value("{{ missing | default('d') }}", scope) == "d"
    assert render_value("{{ j | fromjson }}", scope) == {"k": [1]}


def test_compile_check():
    assert compile_check("{{ x }}") is None
    assert compile_check("plain") is None
    assert compile_check("a b", expression=True) is not None
    assert "No filter named 'nope'" in compile_check("{{ x | nope }}")
    assert "does not compile" in compile_check("{% if x %}")


def test_secret_placeholder_survives_engine_rendering():
    scope = {**SCOPE, "secret": SECRET_PLACEHOLDER}
    rendered = render_value(
        {"headers": {"Authorization": "Bearer {{ secret.TOKEN }}"}, "key": "{{ secret.API_KEY }}"},
        scope,
    )
    assert rendered == {
        "headers": {"Authorization": "Bearer {{ secret.TOKEN }}"},
        "key": "{{ secret.API_KEY }}",
    }
    assert render_value("{{ secret['odd-name'] }}", scope) == "{{ secret['odd-name'] }}"


def test_resolve_secrets_fills_placeholders_only():
    secrets = {"TOKEN": "t0k", "odd-name": "v"}
    value = {
        "headers": {"Authorization": "Bearer {{ secret.TOKEN }}"},
        "other": ["{{ secret['odd-name'] }}", 3, "plain {{ not_a_secret }}"],
    }
    assert resolve_secrets(value, secrets.__getitem__) == {
        "headers": {"Authorization": "Bearer t0k"},
        "other": ["v", 3, "plain {{ not_a_secret }}"],
    }


def test_resolve_secrets_names_a_missing_secret():
    with pytest.raises(TemplateError, match="secret 'NOPE' is not defined"):
        resolve_secrets("{{ secret.NOPE }}", {}.__getitem__)


def test_secret_cannot_go_through_a_filter_on_the_engine_side():
    with pytest.raises(TemplateError, match="b64encode"):
        render_value("{{ secret.PW | b64encode }}", {"secret": SECRET_PLACEHOLDER})


@given(
    st.recursive(
        st.none() | st.booleans() | st.integers() | st.text(),
        lambda c: st.lists(c) | st.dictionaries(st.text(), c),
    )
)
def test_single_expression_round_trips_any_value(value):
    assert render_value("{{ v }}", {"v": value}) == value


def test_mapping_keys_win_over_dict_methods():
    scope = {"data": {"items": [1], "keys": "k", "values": None}}
    assert render_value("{{ data.items }}", scope) == [1]
    assert render_value("{{ data.keys }}", scope) == "k"
    assert render_value("{{ data.values }}", scope) is None
    assert render_value("{{ data.get('items') }}", scope) == [1]


@pytest.mark.parametrize(
    ("template", "what"),
    [
        ("{{ 'x' * 200000000 }}", "`*` would build"),
        ("{{ [0] * 10**7 }}", "`*` would build"),
        ("{{ 9 ** 100000 }}", "`**` would build"),
        ("{{ s + s }}", "`+` would build"),
    ],
)
def test_operators_cannot_build_unbounded_values(template, what):
    with pytest.raises(TemplateError, match=re.escape(what)):
        render_value(template, {"s": "y" * 600_000})


def test_ordinary_arithmetic_and_repetition_still_work():
    assert render_value("{{ 'ab' * 3 }}-{{ 2 ** 10 }}-{{ [1] + [2] }}", {}) == "ababab-1024-[1, 2]"
