"""Parse and validate a playbook, reporting every problem with its file, line, step and field.

Validation runs in two passes over the same YAML document:

1. playbook-wide checks on the raw data (v1 syntax, step references, a `start` step,
   workbook references, templates that compile), each reported at the exact YAML line;
2. the pydantic models, whose errors are mapped back to the YAML line of the field.

A problem already reported by the first pass claims its path, so the models do not
report the same mistake a second time in vaguer words.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterator
from dataclasses import dataclass
from os import PathLike
from pathlib import Path as FsPath
from typing import Any

import yaml
from pydantic import BaseModel, ValidationError

from noetl_pg.protocol.tools import OWN_ERRORS as TOOL_CONFIG_ERRORS
from noetl_pg.protocol.tools import SQL_TEXT_KINDS

from .models import (
    KNOWN_TOOL_KINDS,
    THEN_ACTIONS,
    CaseEntry,
    Collect,
    Fail,
    Loop,
    Metadata,
    NextTarget,
    Playbook,
    Retry,
    Sink,
    Skip,
    Step,
    Then,
    WorkbookEntry,
)
from .render import compile_check, has_template, template_error_line
from .scope_check import RESERVED_NAMES, check_scopes, is_expression_field
from .yamlpos import LocatedDocument, Path, Position, load_located

__all__ = [
    "PlaybookError",
    "Problem",
    "parse_playbook",
    "parse_playbook_file",
    "validate_playbook_file",
]


@dataclass(frozen=True, slots=True)
class Problem:
    """One thing wrong with a playbook, and where it is (1-based line and column)."""

    source: str
    line: int
    column: int
    step: str | None
    field: str | None
    message: str

    def format(self) -> str:
        where = ".".join(part for part in (self.step, self.field) if part)
        prefix = f"{self.source}:{self.line}:{self.column}: "
        return f"{prefix}{where}: {self.message}" if where else f"{prefix}{self.message}"

    def __str__(self) -> str:
        return self.format()


class PlaybookError(Exception):
    """A playbook that does not parse or validate; `.problems` lists every problem found."""

    def __init__(self, problems: list[Problem]):
        self.problems = list(problems)
        super().__init__("\n".join(p.format() for p in self.problems))


# Messages for required fields a person forgets, keyed by the field's path with list
# indices written as [].
_MISSING_MESSAGES = {
    "apiVersion": "missing `apiVersion: noetl.io/v2`",
    "kind": "missing `kind: Playbook`",
    "metadata": "missing `metadata` (at least `metadata: {name: ...}`)",
    "metadata.name": "missing `metadata.name`",
    "workflow": "missing `workflow`: the list of steps (one named `start`)",
    "workflow[].step": "step has no name: write `step: NAME`",
    "workflow[].tool": "step has no `tool`; write `tool: {kind: ..., ...}` (`kind: noop` for none)",
    "workflow[].tool.kind": f"`tool` has no `kind`; known kinds: {', '.join(KNOWN_TOOL_KINDS)}",
    "workflow[].loop.in": "loop has no `in`: the list (or template) to iterate over",
    "workflow[].case[].when": "case entry has no `when`",
    "workflow[].case[].then": "case entry has no `then`",
    "workbook[].name": "workbook entry has no `name`",
    "workbook[].tool": "workbook entry has no `tool`",
    "workbook[].tool.kind": f"`tool` has no `kind`; known kinds: {', '.join(KNOWN_TOOL_KINDS)}",
}

# Which model a mapping at a path is, by the nearest key name above it.
_MODEL_BY_KEY: dict[str, type[BaseModel]] = {
    "metadata": Metadata,
    "workbook": WorkbookEntry,
    "workflow": Step,
    "loop": Loop,
    "case": CaseEntry,
    "then": Then,
    "next": NextTarget,
    "collect": Collect,
    "retry": Retry,
    "fail": Fail,
    "skip": Skip,
    "sink": Sink,
}

_TYPE_NAMES = {
    "str": "a string",
    "int": "a number",
    "float": "a number",
    "bool": "a boolean",
    "list": "a list",
    "NoneType": "nothing",
}


def _allowed_keys(model: type[BaseModel]) -> list[str]:
    return [f.alias or name for name, f in model.model_fields.items()]


def _dotted(path: Path) -> str:
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def _pattern(path: Path) -> str:
    return _dotted(tuple(0 if isinstance(p, int) else p for p in path)).replace("[0]", "[]")


def _next_entries(value: Any, path: Path) -> Iterator[tuple[Path, Any]]:
    """Each entry of a raw `next` value (any spelling) with its path."""
    if isinstance(value, str | dict):
        yield path, value
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield (*path, index), item


def _then_entries(value: Any, path: Path) -> Iterator[tuple[Path, Any]]:
    if isinstance(value, dict):
        yield path, value
    elif isinstance(value, list):
        for index, item in enumerate(value):
            if isinstance(item, dict):
                yield (*path, index), item


def _did_you_mean(name: str, choices: list[str]) -> str:
    close = difflib.get_close_matches(name, choices, n=1, cutoff=0.75)
    close = close or [c for c in choices if sorted(c) == sorted(name)]  # swapped letters
    return f"; did you mean {close[0]!r}?" if close else ""


class _Checker:
    def __init__(self, doc: LocatedDocument, source: str):
        self.doc = doc
        self.data: dict[str, Any] = doc.data
        self.source = source
        self.problems: list[Problem] = []
        self._claimed: set[Path] = set()
        workflow = self.data.get("workflow")
        self.workflow: list[Any] = workflow if isinstance(workflow, list) else []

    # --- reporting ----------------------------------------------------------------

    def _label(self, path: Path) -> tuple[str | None, str | None]:
        if len(path) >= 2 and path[0] == "workflow" and isinstance(path[1], int):
            index = path[1]
            if index < len(self.workflow) and isinstance(self.workflow[index], dict):
                name = self.workflow[index].get("step")
                if isinstance(name, str) and name:
                    return name, _dotted(path[2:]) or None
        return None, _dotted(path) or None

    def report(
        self,
        path: Path,
        message: str,
        *,
        at: Position | None = None,
        claim: bool = True,
        field_path: Path | None = None,
    ) -> None:
        pos = at or self.doc.where(path)
        step, field = self._label(field_path if field_path is not None else path)
        problem = Problem(self.source, pos.line, pos.column, step, field, message)
        if problem not in self.problems:
            self.problems.append(problem)
        if claim:
            self._claimed.add(path)

    def claimed(self, path: Path) -> bool:
        return any(path[: len(c)] == c for c in self._claimed)

    # --- pass 1: playbook-wide checks ---------------------------------------------

    def check(self) -> None:
        for path, where, first in self.doc.duplicate_keys:
            self.report(
                path,
                f"duplicate key `{path[-1]}` (first at line {first.line}); "
                "YAML would keep only the last",
                at=where,
                claim=False,
            )
        for index, raw in enumerate(self.workflow):
            if isinstance(raw, dict):
                self._check_step_v1(index, raw)
        self._check_step_names()
        self._check_references()
        self._check_workbook_references()
        self._check_call_sql()
        self._check_templates()
        self._check_then_actions()
        for finding in check_scopes(self.doc):
            if not self.claimed(finding.path):
                self.report(finding.path, finding.message, at=finding.at, claim=False)

    def _check_then_actions(self) -> None:
        """An empty `then` does nothing (a typo'd action name is reported by the models);
        `call` re-calls this step's tool, so a `step` inside it is a mistaken `next`."""
        for index, raw in enumerate(self.workflow):
            if not isinstance(raw, dict) or not isinstance(raw.get("case"), list):
                continue
            for number, entry in enumerate(raw["case"]):
                if not isinstance(entry, dict) or "then" not in entry:
                    continue
                base: Path = ("workflow", index, "case", number, "then")
                then = entry["then"]
                if then is None or then == {} or then == []:
                    self.report(
                        base,
                        "empty `then`: a rule that fires must do something; actions: "
                        + ", ".join(THEN_ACTIONS),
                    )
                    continue
                for path, mapping in _then_entries(then, base):
                    call = mapping.get("call")
                    if isinstance(call, dict) and "step" in call:
                        target = call["step"]
                        self.report(
                            (*path, "call", "step"),
                            "`call` calls this step's own tool again and takes no `step`;"
                            f" to start step {target!r} write `next: [{target}]`",
                        )

    def _check_step_v1(self, index: int, raw: dict[str, Any]) -> None:
        base: Path = ("workflow", index)
        name = raw.get("step")
        if "type" in raw:
            kind = raw["type"]
            self.report(
                (*base, "type"),
                f"step {name!r}: `type: {kind}` is v1 syntax; write `tool: {{kind: {kind}, ...}}`",
            )
            self._claimed.add(base)  # the rest of a v1 step would only repeat this
        if "with" in raw:
            self.report((*base, "with"), "`with:` is v1 syntax; write `args:`")
        tool = raw.get("tool")
        if isinstance(tool, str):
            self.report(
                (*base, "tool"),
                f"`tool: {tool}` is v1 syntax; write `tool: {{kind: {tool}, ...}}`",
            )
            self._claimed.add(base)  # its tool fields sit beside it, as in v1
        for path, entry in _next_entries(raw.get("next"), (*base, "next")):
            if not isinstance(entry, dict):
                continue
            v1_keys = [k for k in ("when", "then", "else") if k in entry]
            if v1_keys:
                keys = "/".join(v1_keys)
                self.report(
                    path,
                    f"a `next` entry with `{keys}` is v1 syntax; write a `case` rule instead: "
                    "`- when: \"{{ event.name == 'step.exit' and COND }}\"` with "
                    "`then: {next: [STEP]}`",
                )
            elif "with" in entry:
                self.report((*path, "with"), "`with:` is v1 syntax; write `args:`")
        case = raw.get("case")
        for c_index, entry in enumerate(case if isinstance(case, list) else []):
            if not isinstance(entry, dict):
                continue
            for t_path, then in _then_entries(entry.get("then"), (*base, "case", c_index, "then")):
                if "step" in then:
                    self.report(
                        (*t_path, "step"),
                        f"`then` holds actions, not steps; to start step {then['step']!r} "
                        f"write `next: [{then['step']}]`",
                    )

    def _step_names(self) -> list[tuple[int, str]]:
        return [
            (i, raw["step"])
            for i, raw in enumerate(self.workflow)
            if isinstance(raw, dict) and isinstance(raw.get("step"), str)
        ]

    def _check_step_names(self) -> None:
        first_seen: dict[str, int] = {}
        for index, name in self._step_names():
            if name in first_seen:
                first = self.doc.where(("workflow", first_seen[name], "step"))
                self.report(
                    ("workflow", index, "step"),
                    f"duplicate step name {name!r} (first defined at line {first.line})",
                    claim=False,
                )
            else:
                first_seen[name] = index
            if name in RESERVED_NAMES:
                self.report(
                    ("workflow", index, "step"),
                    f"step name {name!r} is a reserved template name, so `{{{{ {name} }}}}`"
                    " could never mean this step's result; choose another name",
                    claim=False,
                )
        if self.workflow and "start" not in first_seen:
            self.report(
                ("workflow",),
                "no step named `start`; every workflow begins at its `start` step",
                claim=False,
            )

    def _check_references(self) -> None:
        names = [name for _, name in self._step_names()]
        known = set(names)

        def check_target(path: Path, entry: Any, what: str) -> None:
            if isinstance(entry, str):
                target = entry
            elif isinstance(entry, dict) and isinstance(entry.get("step"), str):
                target, path = entry["step"], (*path, "step")
            else:
                return
            if target in known or self.claimed(path):
                return
            self.report(
                path,
                f"{what} names step {target!r}, which does not exist"
                + _did_you_mean(target, names),
                claim=False,
            )

        for index, raw in enumerate(self.workflow):
            if not isinstance(raw, dict):
                continue
            base: Path = ("workflow", index)
            for path, entry in _next_entries(raw.get("next"), (*base, "next")):
                check_target(path, entry, "`next`")
            case = raw.get("case")
            if not isinstance(case, list):
                continue
            for c_index, entry in enumerate(case):
                if not isinstance(entry, dict):
                    continue
                for t_path, then in _then_entries(
                    entry.get("then"), (*base, "case", c_index, "then")
                ):
                    for path, target in _next_entries(then.get("next"), (*t_path, "next")):
                        check_target(path, target, "`then.next`")

    def _check_call_sql(self) -> None:
        """A `call` may not slip a templated `query`/`command` past a postgres step that
        did not opt in with `template_sql: true` (the tool model checks the step's own)."""
        for index, raw in enumerate(self.workflow):
            if not isinstance(raw, dict) or not isinstance(raw.get("tool"), dict):
                continue
            tool = raw["tool"]
            kind = tool.get("kind")
            if not isinstance(kind, str) or kind not in SQL_TEXT_KINDS:
                continue
            if tool.get("template_sql") is True:
                continue
            case = raw.get("case") if isinstance(raw.get("case"), list) else []
            base: Path = ("workflow", index)
            for c_index, entry in enumerate(case):
                if not isinstance(entry, dict):
                    continue
                for t_path, then in _then_entries(
                    entry.get("then"), (*base, "case", c_index, "then")
                ):
                    call = then.get("call")
                    if not isinstance(call, dict):
                        continue
                    for key in ("query", "command"):
                        value = call.get(key)
                        if isinstance(value, str) and has_template(value):
                            self.report(
                                (*t_path, "call", key),
                                f"`call.{key}` contains a template, which would paste values"
                                " into the SQL text; pass them with `call.params`, or set"
                                " `template_sql: true` on the step's tool",
                            )

    def _check_workbook_references(self) -> None:
        workbook = self.data.get("workbook")
        entries = workbook if isinstance(workbook, list) else []
        names: list[str] = []
        for index, entry in enumerate(entries):
            if not isinstance(entry, dict) or not isinstance(entry.get("name"), str):
                continue
            if entry["name"] in names:
                self.report(
                    ("workbook", index, "name"),
                    f"duplicate workbook entry {entry['name']!r}",
                    claim=False,
                )
            names.append(entry["name"])

        def check_tool(path: Path, tool: Any) -> None:
            if not isinstance(tool, dict) or tool.get("kind") != "workbook":
                return
            key = "task" if "task" in tool else "name"
            task = tool.get(key)
            if not isinstance(task, str) or task in names or has_template(task):
                return
            known = (
                f"workbook entries: {', '.join(names)}" if names else "the playbook has no workbook"
            )
            self.report(
                (*path, key),
                f"workbook task {task!r} does not exist ({known}){_did_you_mean(task, names)}",
                claim=False,
            )

        for index, raw in enumerate(self.workflow):
            if not isinstance(raw, dict):
                continue
            base: Path = ("workflow", index)
            check_tool((*base, "tool"), raw.get("tool"))
            for c_index, entry in enumerate(raw.get("case") or []):
                if not isinstance(entry, dict):
                    continue
                for t_path, then in _then_entries(
                    entry.get("then"), (*base, "case", c_index, "then")
                ):
                    sink = then.get("sink")
                    if isinstance(sink, dict):
                        check_tool((*t_path, "sink", "tool"), sink.get("tool"))

    def _check_templates(self) -> None:
        for index, raw in enumerate(self.workflow):
            self._check_strings(raw, ("workflow", index))
        workbook = self.data.get("workbook")
        if isinstance(workbook, list):
            for index, entry in enumerate(workbook):
                self._check_strings(entry, ("workbook", index))

    def _check_strings(self, value: Any, path: Path) -> None:
        if isinstance(value, dict):
            for key, item in value.items():
                self._check_strings(item, (*path, key))
        elif isinstance(value, list):
            for index, item in enumerate(value):
                self._check_strings(item, (*path, index))
        elif isinstance(value, str):
            expression = is_expression_field(path)
            if not expression and not has_template(value):
                return
            reason = compile_check(value, expression=expression)
            if reason is None:
                return
            start = self.doc.where_value(path)
            offset = (template_error_line(value, expression) or 1) - 1
            line = start.line + offset
            at = Position(line, start.column if offset == 0 else self.doc.first_column(line))
            shown = value if len(value) <= 60 else value[:57] + "..."
            self.report(path, f"template {shown!r} {reason}", at=at, claim=False)

    # --- pass 2: the models -------------------------------------------------------

    def add_validation_errors(self, exc: ValidationError) -> None:
        by_path: dict[tuple[Path, str | None], list[str]] = {}
        for error in exc.errors():
            path, missing = self._data_path(error["loc"], error["type"])
            full = (*path, missing) if missing else path
            if self.claimed(full) or self.claimed(path):
                continue
            by_path.setdefault((path, missing), []).append(self._message(error, path, missing))
        for (path, missing), messages in by_path.items():
            message = messages[0]
            for extra in messages[1:]:
                if extra == message:
                    continue
                message += " or " + extra.removeprefix("Input should be ")
            field_path = (*path, missing) if missing else path
            self.report(path, message, field_path=field_path, claim=False)

    def _data_path(self, loc: tuple[Any, ...], error_type: str) -> tuple[Path, str | None]:
        """The part of a pydantic location that exists in the YAML data (and a missing key)."""
        node: Any = self.data
        path: list[str | int] = []
        for position, part in enumerate(loc):
            if (isinstance(node, dict) and part in node) or (
                isinstance(node, list) and isinstance(part, int) and 0 <= part < len(node)
            ):
                path.append(part)
                node = node[part]
            elif isinstance(part, int) and not isinstance(node, list):
                continue  # a single value normalized to a one-element list
            else:
                if error_type == "missing" and position == len(loc) - 1 and isinstance(part, str):
                    return tuple(path), part
                break
        return tuple(path), None

    def _message(self, error: dict[str, Any], path: Path, missing: str | None) -> str:
        kind = error["type"]
        if kind == "missing" and missing:
            return _MISSING_MESSAGES.get(
                _pattern((*path, missing)), f"missing required field `{missing}`"
            )
        if kind == "extra_forbidden" and path:
            key = path[-1]
            parent_names = [p for p in path[:-1] if isinstance(p, str)]
            if not parent_names:
                allowed = ", ".join(_allowed_keys(Playbook))
                return f"unknown top-level key `{key}`; expected one of: {allowed}"
            model = _MODEL_BY_KEY.get(parent_names[-1])
            if model is Then:
                return f"unknown action `{key}`; actions are: {', '.join(THEN_ACTIONS)}"
            if model is not None:
                allowed = ", ".join(_allowed_keys(model))
                return f"unknown field `{key}`; expected one of: {allowed}"
            return f"unknown field `{key}`"
        if kind in ("model_type", "dict_type", "model_attributes_type"):
            got = type(error.get("input")).__name__
            return f"expected a mapping (key: value), got {_TYPE_NAMES.get(got, got)}"
        if kind == "too_short" and path == ("workflow",):
            return "the workflow has no steps; it needs at least a `start` step"
        if kind in TOOL_CONFIG_ERRORS:
            return str(error["msg"])  # names its field and kind already
        message = str(error["msg"]).removeprefix("Value error, ")
        value = error.get("input")
        if kind not in ("value_error", "assertion_error") and isinstance(
            value, str | int | float | bool
        ):
            shown = repr(value) if not isinstance(value, str) or len(value) <= 40 else None
            if shown:
                message += f" (got {shown})"
        return message


def parse_playbook(text: str, source: str = "<string>") -> Playbook:
    """Parse and validate playbook YAML; raises PlaybookError listing every problem."""
    try:
        doc = load_located(text)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line, column = (mark.line + 1, mark.column + 1) if mark else (1, 1)
        detail = exc.problem or "invalid YAML"
        if exc.context:
            detail = f"{detail} ({exc.context})"
        raise PlaybookError(
            [Problem(source, line, column, None, None, f"YAML syntax error: {detail}")]
        ) from exc
    except yaml.YAMLError as exc:
        raise PlaybookError([Problem(source, 1, 1, None, None, f"YAML error: {exc}")]) from exc
    if not isinstance(doc.data, dict):
        what = "an empty document" if doc.data is None else f"a {type(doc.data).__name__}"
        raise PlaybookError(
            [
                Problem(
                    source,
                    1,
                    1,
                    None,
                    None,
                    f"a playbook is a YAML mapping with apiVersion, kind, metadata and "
                    f"workflow; found {what}",
                )
            ]
        )
    checker = _Checker(doc, source)
    checker.check()
    playbook: Playbook | None = None
    try:
        playbook = Playbook.model_validate(doc.data)
    except ValidationError as exc:
        checker.add_validation_errors(exc)
    if checker.problems or playbook is None:
        raise PlaybookError(sorted(checker.problems, key=lambda p: (p.line, p.column)))
    return playbook


def parse_playbook_file(path: str | PathLike[str]) -> Playbook:
    """Parse a playbook file; the problems name the file as given. OSError propagates."""
    text = FsPath(path).read_text(encoding="utf-8")
    return parse_playbook(text, source=str(path))


def validate_playbook_file(path: str | PathLike[str]) -> Playbook:
    """Validate a playbook file: the parsed Playbook, or PlaybookError with every problem."""
    return parse_playbook_file(path)
