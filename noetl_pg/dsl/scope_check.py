"""Static checks of the names templates use (DSL.md section 8), before anything runs.

A typo in a template (`reponse.data`) would otherwise only make a `when` false at run
time, and the execution would end `completed` with a wrong answer. So every template is
parsed and each name it reads is checked against the names that can be in scope in its
step: the reserved names, the steps (their results), the ctx keys that some `set` or
`collect` writes, and the step's loop iterator. Comparisons of `event.name` with a name
that is no event are errors too. Each finding names the text position of the name.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from jinja2 import TemplateSyntaxError, meta, nodes

from noetl_pg.protocol import EventName

from .render import environment, has_template
from .yamlpos import LocatedDocument, Path, Position

# Names every template sees (DSL.md section 5); a step's result is visible under its
# name, so a step may not take one of these.
RESERVED_NAMES = frozenset(
    {
        "workload",
        "ctx",
        "args",
        "event",
        "response",
        "error",
        "result",
        "status",
        "loop",
        "execution_id",
        "secret",
    }
)
# Strings evaluated as expressions (a bare `x.y` is allowed there, not only `{{ x.y }}`).
EXPRESSION_FIELDS = frozenset(
    {("case", "when"), ("collect", "from"), ("result", "from"), ("loop", "in")}
)
# Attributes of a mapping that templates call (`ctx.get('k')`), not keys.
_MAPPING_METHODS = frozenset({"get", "items", "keys", "values"})
_EVENT_NAMES = frozenset(str(name) for name in EventName)


@dataclass(frozen=True, slots=True)
class Finding:
    path: Path
    at: Position
    message: str


def is_expression_field(path: Path) -> bool:
    names = tuple(part for part in path if isinstance(part, str))
    return names[-2:] in EXPRESSION_FIELDS


def check_scopes(doc: LocatedDocument) -> list[Finding]:
    """Every name a template reads that cannot be in scope where it stands."""
    data = doc.data if isinstance(doc.data, dict) else {}
    workflow = [s for s in data.get("workflow") or [] if isinstance(s, dict)]
    steps = {s["step"] for s in workflow if isinstance(s.get("step"), str)}
    ctx_keys = _ctx_keys_written(workflow)
    iterators = {it for s in workflow if (it := _iterator(s))}
    base = RESERVED_NAMES | steps | ctx_keys | set(environment().globals)
    checker = _ScopeChecker(doc, ctx_keys, steps)
    passed = _args_passed_by_next(workflow)
    raw_workflow = data.get("workflow")
    for index, step in enumerate(raw_workflow if isinstance(raw_workflow, list) else []):
        if not isinstance(step, dict):
            continue
        allowed = base | ({_iterator(step)} - {None})
        own = step["args"] if isinstance(step.get("args"), dict) else {}
        name = step.get("step")
        arg_names = {n for n in own if isinstance(n, str)}
        arg_names |= passed.get(name, set()) if isinstance(name, str) else set()
        checker.walk(step, ("workflow", index), allowed, arg_names)
    raw_workbook = data.get("workbook")
    for index, entry in enumerate(raw_workbook if isinstance(raw_workbook, list) else []):
        # A workbook tool renders in the scope of whichever step calls it.
        checker.walk(entry, ("workbook", index), base | iterators, set())
    concurrency = data.get("concurrency")
    if isinstance(concurrency, dict):  # rendered once, at start, from the workload
        at_start = {"workload", "execution_id"} | set(environment().globals)
        checker.walk(concurrency, ("concurrency",), at_start, set())
    return checker.findings


def _iterator(step: dict[str, Any]) -> str | None:
    loop = step.get("loop")
    if isinstance(loop, dict):
        iterator = loop.get("iterator")
        return iterator if isinstance(iterator, str) else "item"
    return None


def _then_mappings(step: dict[str, Any]) -> Iterator[dict[str, Any]]:
    for entry in step.get("case") or []:
        if not isinstance(entry, dict):
            continue
        then = entry.get("then")
        for item in then if isinstance(then, list) else [then]:
            if isinstance(item, dict):
                yield item


def _ctx_keys_written(workflow: list[dict[str, Any]]) -> set[str]:
    """`set: {ctx: {k: ...}}`, the shorthand `set: {k: ...}`, and `collect: {into: k}`."""
    keys: set[str] = set()
    for step in workflow:
        for then in _then_mappings(step):
            written = then.get("set")
            if isinstance(written, dict):
                keys.update(k for k in written if isinstance(k, str) and k != "ctx")
                if isinstance(written.get("ctx"), dict):
                    keys.update(k for k in written["ctx"] if isinstance(k, str))
            collect = then.get("collect")
            if isinstance(collect, dict) and isinstance(collect.get("into"), str):
                keys.add(collect["into"])
    return keys


def _args_passed_by_next(workflow: list[dict[str, Any]]) -> dict[str, set[str]]:
    """Per target step, the arg names some `next` passes to it (one pass over the workflow)."""
    passed: dict[str, set[str]] = {}
    for other in workflow:
        targets: list[Any] = []
        for value in [other.get("next")] + [t.get("next") for t in _then_mappings(other)]:
            targets.extend(value if isinstance(value, list) else [value])
        for target in targets:
            if (
                isinstance(target, dict)
                and isinstance(target.get("step"), str)
                and isinstance(target.get("args"), dict)
            ):
                names = passed.setdefault(target["step"], set())
                names.update(n for n in target["args"] if isinstance(n, str))
    return passed


class _ScopeChecker:
    def __init__(self, doc: LocatedDocument, ctx_keys: set[str], steps: set[str]) -> None:
        self.doc = doc
        self.ctx_keys = ctx_keys
        self.steps = steps
        self.findings: list[Finding] = []

    def walk(self, value: Any, path: Path, allowed: set[str], arg_names: set[str]) -> None:
        if isinstance(value, dict):
            for key, item in value.items():
                self.walk(item, (*path, key), allowed, arg_names)
        elif isinstance(value, list):
            for index, item in enumerate(value):
                self.walk(item, (*path, index), allowed, arg_names)
        elif isinstance(value, str):
            self._check_text(value, path, allowed, arg_names)

    def _check_text(self, text: str, path: Path, allowed: set[str], arg_names: set[str]) -> None:
        expression = is_expression_field(path)
        if not expression and not has_template(text):
            return
        source = "{{ " + text + " }}" if expression and not has_template(text) else text
        try:
            tree = environment().parse(source)
            undeclared = meta.find_undeclared_variables(tree)
        except TemplateSyntaxError:
            return  # reported by the compile check, with its line
        for name in sorted(undeclared):
            if name not in allowed:
                self._add(path, text, _word(name), _unknown_name(name, allowed, arg_names))
        for attr in _attributes_of(tree, "ctx"):
            if attr not in self.ctx_keys and attr not in _MAPPING_METHODS:
                hint = _suggest(attr, self.ctx_keys)
                self._add(
                    path,
                    text,
                    rf"ctx\s*(?:\.\s*{re.escape(attr)}\b|\[\s*['\"]{re.escape(attr)}['\"])",
                    f"`ctx.{attr}` is never written: no `set` or `collect` in this playbook"
                    f" writes ctx key {attr!r}{hint}",
                )
        for compared in _event_names_compared(tree):
            if compared not in _EVENT_NAMES:
                hint = _suggest(compared, _EVENT_NAMES, failed_call=compared == "call.error")
                self._add(
                    path,
                    text,
                    rf"['\"]{re.escape(compared)}['\"]",
                    f"`event.name` is compared with {compared!r}, which is no event"
                    f" (events: {', '.join(sorted(_EVENT_NAMES))}){hint}",
                )

    def _add(self, path: Path, text: str, pattern: str, message: str) -> None:
        self.findings.append(Finding(path, self._position(path, text, pattern), message))

    def _position(self, path: Path, text: str, pattern: str) -> Position:
        """Where the first match of `pattern` in the value at `path` stands in the file."""
        start = self.doc.where_value(path)
        match = re.search(pattern, text)
        if match is None:
            return start
        before = text[: match.start()]
        newlines = before.count("\n")
        if newlines == 0 and path not in self.doc.block_scalars:
            quoted = _char_at(self.doc, start) in "\"'"
            return Position(start.line, start.column + len(before) + (1 if quoted else 0))
        line = start.line + newlines
        column = len(before) - (before.rfind("\n") + 1)
        return Position(line, self.doc.first_column(line) + column)


def _char_at(doc: LocatedDocument, at: Position) -> str:
    if 1 <= at.line <= len(doc.lines):
        text = doc.lines[at.line - 1]
        if 1 <= at.column <= len(text):
            return text[at.column - 1]
    return ""


def _word(name: str) -> str:
    return rf"(?<![\w.]){re.escape(name)}\b"


def _unknown_name(name: str, allowed: set[str], arg_names: set[str]) -> str:
    if name in arg_names:
        return f"`{name}` is not defined here; this step's args are read as `args.{name}`"
    hint = _suggest(name, allowed)
    return f"`{name}` is not defined here{hint or '; ' + _in_scope(allowed)}"


def _in_scope(allowed: set[str]) -> str:
    return "names in scope: " + ", ".join(sorted(allowed - set(environment().globals)))


def _suggest(name: str, choices: set[str] | frozenset[str], *, failed_call: bool = False) -> str:
    if failed_call:
        return "; a failed call is `event.name == 'call.done' and error is defined`"
    close = difflib.get_close_matches(name, sorted(choices), n=1, cutoff=0.7)
    return f"; did you mean `{close[0]}`?" if close else ""


def _attributes_of(tree: nodes.Node, name: str) -> set[str]:
    """Keys read from the global `name` as `name.key` or `name['key']`."""
    found: set[str] = set()
    for node in tree.find_all((nodes.Getattr, nodes.Getitem)):
        target = node.node
        if not (isinstance(target, nodes.Name) and target.name == name):
            continue
        if isinstance(node, nodes.Getattr):
            found.add(node.attr)
        elif isinstance(node.arg, nodes.Const) and isinstance(node.arg.value, str):
            found.add(node.arg.value)
    return found


def _is_event_name(node: nodes.Node) -> bool:
    return (
        isinstance(node, nodes.Getattr)
        and node.attr == "name"
        and isinstance(node.node, nodes.Name)
        and node.node.name == "event"
    )


def _strings(node: nodes.Node) -> list[str]:
    if isinstance(node, nodes.Const):  # the code generator folds a literal list into one
        values = node.value if isinstance(node.value, list | tuple) else [node.value]
        return [v for v in values if isinstance(v, str)]
    if isinstance(node, nodes.List | nodes.Tuple):
        return [s for item in node.items for s in _strings(item)]
    return []


def _event_names_compared(tree: nodes.Node) -> list[str]:
    """String constants compared with `event.name` (`==`, `!=`, `in`, `not in`)."""
    found: list[str] = []
    for compare in tree.find_all(nodes.Compare):
        operands = [compare.expr, *(op.expr for op in compare.ops)]
        if any(_is_event_name(o) for o in operands):
            for operand in operands:
                found.extend(_strings(operand))
    return found
