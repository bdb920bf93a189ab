"""Jinja in postgres SQL text, rewritten for this dialect (DSL.md section 7).

Here SQL text is not a template unless the tool says `template_sql: true`: values reach
SQL as bound parameters. So a template that stands for a *value* is moved into `params`:
`WHERE id = {{ args.id }}` becomes `WHERE id = %(id)s` with `params: {id: "{{ args.id }}"}`,
and `'{{ x }}'` (a quoted literal) becomes `%(x)s` too. A template is a value when it is
quoted, follows a comparison operator, `LIKE`/`ILIKE`/`LIMIT`/`OFFSET`, or stands inside the
parentheses of `VALUES (...)` or `IN (...)`. Anything else (a table or column name, a
`{% if %}` block, a template inside a longer literal such as `'%{{ x }}%'`), a `params`
list (`%s` placeholders cannot be mixed with names) and several statements (which cannot
take bound parameters) keep the template in the text, with `template_sql: true`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from jinja2 import TemplateSyntaxError

from .render import environment, has_template

__all__ = ["SqlRewrite", "bind_sql_templates"]

_VALUE_WORDS = {"like", "ilike", "limit", "offset"}
_LIST_WORDS = {"values", "in"}
_COMPARISON = re.compile(r"(<=|>=|<>|!=|=|<|>)\s*$")
_LAST_WORD = re.compile(r"([A-Za-z_]+)\s*$")
_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_PERCENT = re.compile(r"%(?!\(\w+\)s|s)")


@dataclass
class SqlRewrite:
    sql: str
    params: Any
    template_sql: bool
    changes: list[str] = field(default_factory=list)


def bind_sql_templates(sql: str, params: Any) -> SqlRewrite:
    """The SQL with its value templates moved into `params` where that can be done."""
    if not has_template(sql):
        return SqlRewrite(sql, params, False)
    pieces = _pieces(sql)
    if pieces is None or (params is not None and not isinstance(params, dict)):
        return SqlRewrite(sql, params, True, ["kept the template in the SQL text"])
    if _several_statements(pieces):
        return SqlRewrite(sql, params, True, ["several statements take no bound parameters"])
    bound: dict[str, Any] = dict(params or {})
    by_expression: dict[str, str] = {}
    out: list[tuple[str, str]] = []
    kept = False
    changes: list[str] = []
    for index, (kind, text) in enumerate(pieces):
        if kind == "text":
            out.append((kind, text))
            continue
        before = "".join(t for k, t in pieces[:index] if k == "text")
        after = pieces[index + 1][1] if index + 1 < len(pieces) else ""
        quoted = before.endswith("'") and after.startswith("'")
        expression = _single_expression(text)
        if expression is None or not (quoted or _value_position(before)):
            out.append(("template", text))
            kept = True
            continue
        name = by_expression.get(expression) or _param_name(expression, bound)
        by_expression[expression] = name
        bound[name] = "{{ " + expression + " }}"
        if quoted:
            out[-1] = ("text", out[-1][1][:-1])
            pieces[index + 1] = ("text", after[1:])
        out.append(("param", f"%({name})s"))
        change = f"`{text}` -> `%({name})s` with `params.{name}`"
        if change not in changes:
            changes.append(change)
    if kept:
        changes.append("kept the other templates in the SQL text")
    # a bare `%` is the driver's escape once there are params: `%%` keeps it literal
    escape = bool(by_expression) and params is None
    text = "".join(_PERCENT.sub("%%", t) if escape and k == "text" else t for k, t in out)
    return SqlRewrite(text, bound if by_expression else params, kept, changes)


def _pieces(sql: str) -> list[tuple[str, str]] | None:
    """The SQL as ("text", ...) and ("template", "{{ ... }}") pieces; None for `{% %}`."""
    try:
        tokens = list(environment().lex(sql))
    except TemplateSyntaxError:
        return None
    pieces: list[tuple[str, str]] = []
    current: list[str] = []
    for _, kind, value in tokens:
        if kind in ("block_begin", "comment_begin"):
            return None
        if kind == "data":
            pieces.append(("text", value))
        elif kind == "variable_begin":
            current = [value]
        elif kind == "variable_end":
            pieces.append(("template", "".join([*current, value])))
            current = []
        else:
            current.append(value)
    return pieces


def _several_statements(pieces: list[tuple[str, str]]) -> bool:
    text = "".join(t if k == "text" else "x" for k, t in pieces).strip().rstrip(";")
    return ";" in text


def _single_expression(template: str) -> str | None:
    inner = template[2:-2].strip("-+ \t\n")
    return inner or None


def _value_position(before: str) -> bool:
    if _COMPARISON.search(before):
        return True
    word = _LAST_WORD.search(before)
    if word and word.group(1).lower() in _VALUE_WORDS:
        return True
    return _inside_list(before)


def _inside_list(before: str) -> bool:
    """Inside the unclosed parenthesis of `VALUES (` or `IN (`, directly after `(` or `,`."""
    if not re.search(r"[(,]\s*$", before):
        return False
    depth = 0
    for at in range(len(before) - 1, -1, -1):
        char = before[at]
        if char == ")":
            depth += 1
        elif char == "(":
            if depth == 0:
                word = _LAST_WORD.search(before[:at])
                return bool(word and word.group(1).lower() in _LIST_WORDS)
            depth -= 1
    return False


def _param_name(expression: str, taken: dict[str, Any]) -> str:
    words = _IDENTIFIER.findall(expression)
    base = words[-1] if words else "value"
    name, number = base, 2
    while name in taken:
        name, number = f"{base}_{number}", number + 1
    return name
