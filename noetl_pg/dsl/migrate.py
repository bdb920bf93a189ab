"""Rewrite a v1 or NoETL playbook into this dialect (docs/dsl.md sections 9 and 10).

What is translated:
- `type: K` and the tool fields beside it -> `tool: {kind: K, ...}` (`start`/`end`/`router`
  and steps without a type -> `kind: noop`; `type: iterator` -> `loop:` plus the inner task
  as the tool); `tool: K` (string) with sibling fields likewise;
- `with:`, `input:` (and `data:` on non-http steps) -> `args:`;
- `next: [{when, then, else}]` -> `case` rules on `step.exit` with `next` actions; entries
  without a condition stay as the structural `next` (and are added to every rule too, since
  in v2 a fired `next` action replaces the structural one);
- every NoETL retry form (`retry: N`, `{..., retry_when, stop_when}`, a list of `{when,
  then}` policies, `{on_error, on_success}` pagination) -> `case` rules on `call.done` with
  `retry`, or `collect` + `call` for pagination;
- `vars:`, `sink:` and `save:` -> one rule on a successful `call.done` with `set: {ctx}`
  and `sink` actions (migrate_sink.py); `after:` -> rules on `step.exit`;
- template idioms (migrate_templates.py) and Jinja in SQL text (migrate_sql.py);
- v1 top-level `name`/`path`/`version`/`description` -> `metadata`; `apiVersion`/`kind` set.

Every change is a warning `line N: <step> <field>: ...`; what is not translated is a
warning that quotes it (`as`, `assert`, tool kinds v2 does not have, unknown retry or sink
fields, unknown top-level sections), so nothing disappears silently.

Comments: every comment of the input is kept, but placed as a full-line comment just
above the top-level section, step or workbook entry it was in (or before); comments at
the end of a line move above their step too. Key order inside a step becomes the v2 order.
The output is validated with `parse_playbook`; a result that does not validate raises
MigrationError with the problems (a v1 playbook that was already broken, for instance).
"""

from __future__ import annotations

import dataclasses
import json
import re
from collections import defaultdict
from dataclasses import dataclass
from typing import Any

import yaml

from noetl_pg.protocol import EventName

from .migrate_sink import translate_sink
from .migrate_sql import bind_sql_templates
from .migrate_templates import TemplateScope, rewrite_template
from .models import API_VERSION, KNOWN_TOOL_KINDS, THEN_ACTIONS
from .parser import PlaybookError, Problem, parse_playbook
from .render import environment, has_template
from .scope_check import RESERVED_NAMES
from .yamlpos import LocatedDocument, Path, load_located

__all__ = ["MigrationError", "migrate_v1_to_v2", "migrate_v1_to_v2_with_warnings"]


class MigrationError(Exception):
    """The input could not be migrated to a valid v2 playbook."""

    def __init__(self, message: str, problems: list[Any] | None = None):
        self.problems = list(problems or [])
        super().__init__(message)


_KIND_ALIASES = {
    "start": "noop",
    "end": "noop",
    "router": "noop",
    "noop": "noop",
    "playbooks": "playbook",
}
_ITERATOR_KINDS = {"iterator", "loop"}
_META_FIELDS = ("name", "path", "version", "description")
_TOP_V1_META = ("name", "path", "version", "description")
_TOP_KNOWN = {"apiVersion", "kind", "metadata", "workload", "workbook", "workflow"}
# v1 step fields that are not tool configuration and have no direct v2 equivalent.
_UNTRANSLATED_STEP_FIELDS = {
    "as": "in v2 a step's result is visible under the step's name",
    "assert": "v2 has no assertions; check the result in a `case` rule and `fail`",
}
_RETRY_FIELDS = ("max_attempts", "initial_delay", "backoff_multiplier", "max_delay")
_CALL_DONE = f"event.name == '{EventName.CALL_DONE}'"
_STEP_EXIT = f"event.name == '{EventName.STEP_EXIT}'"
_FAILED_CALL = f"{_CALL_DONE} and error is defined"
_GOOD_CALL = f"{_CALL_DONE} and error is not defined"
# Strings read as expressions even without `{{ }}` (v1 and NoETL conditions included).
_EXPRESSION_KEYS = {"when", "while", "retry_when", "stop_when"}
_EXPRESSION_PAIRS = {("collect", "from"), ("result", "from"), ("sink", "from"), ("loop", "in")}
_HTTP_BODY = "response.data"
_BODY_NOTE = "NoETL's `response` in a retry policy is the http body, here `response.data`"
# Step fields rendered when the step's own events apply: its result there is `result`.
_RULE_FIELDS = {"case", "next", "after", "vars", "sink", "save", "retry", "retry_when", "stop_when"}
# NoETL `collect.strategy` -> this dialect's `collect.mode` (append concatenated the pages)
_COLLECT_MODES = {"append": "extend", "extend": "extend", "replace": "replace"}
_SINGLE_EXPRESSION = re.compile(r"\A\s*\{\{(?P<expr>.*)\}\}\s*\Z", re.DOTALL)


def migrate_v1_to_v2(text: str) -> str:
    """The v2 text for a v1 playbook (warnings are discarded; see the _with_warnings form)."""
    return migrate_v1_to_v2_with_warnings(text)[0]


def migrate_v1_to_v2_with_warnings(text: str) -> tuple[str, list[str]]:
    """The v2 text and a list of what could not be translated as it was."""
    try:
        doc = load_located(text)
    except yaml.YAMLError as exc:
        raise MigrationError(f"the input is not valid YAML: {exc}") from exc
    if not isinstance(doc.data, dict):
        raise MigrationError("a playbook is a YAML mapping; the input is not one")
    migrator = _Migrator(doc)
    playbook = migrator.run()
    out = _emit(playbook, migrator, _comments_by_anchor(text, doc))
    try:
        parse_playbook(out, source="<migrated>")
    except PlaybookError as exc:
        lines = "\n".join(migrator.refusal(problem) for problem in exc.problems)
        raise MigrationError(
            "the migrated playbook does not validate as v2:\n" + lines, exc.problems
        ) from exc
    return out, sorted(migrator.warnings, key=_warning_line)


def _warning_line(warning: str) -> int:
    match = re.match(r"line (\d+):", warning)
    return int(match.group(1)) if match else 1 << 30


def _short(value: Any, limit: int = 160) -> str:
    text = json.dumps(value, default=str, ensure_ascii=False)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _merge_args(*sources: Any) -> dict[str, Any]:
    merged: dict[str, Any] = {}
    for source in sources:
        if isinstance(source, dict):
            merged.update(source)
    return merged


@dataclass
class _Policy:
    """One NoETL retry policy: error side (retry a failed call) or success side (poll, page)."""

    kind: str
    when: Any
    fields: dict[str, Any]
    path: Path
    label: str
    retry: Any = None
    stop: Any = None
    next_call: Any = None
    collect: Any = None
    sink: Any = None
    cond_paths: dict[str, Path] = dataclasses.field(default_factory=dict)
    response: str = "response"  # what NoETL's `response` is here (`response.data`: the body)


@dataclass
class _Paging:
    """What pagination asks of its step: a call cap and the ctx list the pages go to."""

    max_calls: int | None = None
    collect: dict[str, Any] | None = None


@dataclass
class _OutItem:
    """A step or workbook entry of the output and the source index it came from."""

    data: dict[str, Any]
    source_index: int | None


class _Migrator:
    def __init__(self, doc: LocatedDocument):
        self.doc = doc
        self.data: dict[str, Any] = doc.data
        self.warnings: list[str] = []
        self.steps: list[_OutItem] = []
        self.workbook: list[_OutItem] = []

    def refusal(self, problem: Problem) -> str:
        """A problem of the migrated playbook, located at its step in the input."""
        path: Path = ()
        raw_steps = self.data.get("workflow")
        for index, raw in enumerate(raw_steps if isinstance(raw_steps, list) else []):
            if isinstance(raw, dict) and raw.get("step") == problem.step:
                path = ("workflow", index)
        line = self.doc.where(path).line if path else None
        where = " ".join(
            filter(None, [f"step {problem.step!r}" if problem.step else None, problem.field])
        )
        return (
            f"line {line}: {where}: {problem.message} (migrated line {problem.line})"
            if line
            else f"{problem.format()}"
        )

    def warn(self, path: Path, where: str, message: str) -> None:
        line = self.doc.where(path).line
        self.warnings.append(f"line {line}: {where}: {message}")

    # --- top level ----------------------------------------------------------------

    def run(self) -> dict[str, Any]:
        data = self.data
        out: dict[str, Any] = {"apiVersion": API_VERSION, "kind": "Playbook"}
        self._rewrite_templates()
        kind = data.get("kind")
        if kind not in (None, "Playbook"):
            self.warn(("kind",), "kind", f"`kind: {kind}` replaced by `kind: Playbook`")
        out["metadata"] = self._metadata()
        if "workload" in data:
            out["workload"] = data["workload"]
        if data.get("workbook"):
            self._workbook(data["workbook"])
            out["workbook"] = [item.data for item in self.workbook]
        self._workflow(data.get("workflow"))
        out["workflow"] = [item.data for item in self.steps]
        for key, value in data.items():
            if key not in _TOP_KNOWN and key not in _TOP_V1_META:
                self.warn(
                    (key,),
                    f"top-level `{key}`",
                    f"has no v2 equivalent and was left out: {_short(value)}",
                )
        return out

    def _metadata(self) -> dict[str, Any]:
        raw = self.data.get("metadata")
        meta = dict(raw) if isinstance(raw, dict) else {}
        if "description" not in meta and "desc" in meta:
            meta["description"] = meta.pop("desc")
        for key in _TOP_V1_META:
            if key in self.data and key not in meta:
                meta[key] = self.data[key]
        out: dict[str, Any] = {}
        for key in _META_FIELDS:
            if meta.get(key) is not None:
                value = meta[key]
                out[key] = str(value) if key == "version" else value
        # v2 metadata is free-form beyond name/path/version: the rest is kept as it is.
        out.update((key, value) for key, value in meta.items() if key not in _META_FIELDS)
        if not out.get("name"):
            path = out.get("path")
            name = str(path).rstrip("/").rsplit("/", 1)[-1] if path else "migrated_playbook"
            out = {"name": name, **out}
            self.warn(("metadata",), "metadata", f"no name; using {name!r}")
        return out

    # --- templates ----------------------------------------------------------------

    def _rewrite_templates(self) -> None:
        """NoETL's template idioms, rewritten in place in the input (see migrate_templates)."""
        data = self.data
        raw_steps = data.get("workflow") if isinstance(data.get("workflow"), list) else []
        steps = [s for s in raw_steps if isinstance(s, dict)]
        names = frozenset(s["step"] for s in steps if isinstance(s.get("step"), str))
        base = RESERVED_NAMES | names | _ctx_keys(steps) | set(environment().globals)
        iterators: set[str] = set()
        for index, step in enumerate(raw_steps):
            if not isinstance(step, dict):
                continue
            name = step.get("step") if isinstance(step.get("step"), str) else None
            iterators |= _iterators(step)
            scope = TemplateScope(
                step_names=names,
                in_scope=frozenset(base | _iterators(step)),
                arg_names=frozenset(_step_arg_names(step, steps)),
                current_step=name,
            )
            self._rewrite_in(step, ("workflow", index), scope, f"step {name!r}", ())
        raw_workbook = data.get("workbook") if isinstance(data.get("workbook"), list) else []
        for index, entry in enumerate(raw_workbook):
            scope = TemplateScope(step_names=names, in_scope=frozenset(base | iterators))
            name = entry.get("name") if isinstance(entry, dict) else index
            self._rewrite_in(entry, ("workbook", index), scope, f"workbook {name!r}", ())
        workload = data.get("workload")
        for sub, text in _strings(workload, ("workload",)):
            if has_template(text):
                self.warn(
                    sub,
                    "workload",
                    f"{_field(sub[1:])}: workload values are data here, not templates:"
                    f" {text!r} stays as text; write the template where the value is read",
                )

    def _rewrite_in(
        self, value: Any, path: Path, scope: TemplateScope, where: str, inner: Path
    ) -> Any:
        if isinstance(value, dict):
            for key in list(value):
                if key in ("step", "desc", "description") and not inner:
                    continue
                value[key] = self._rewrite_in(value[key], (*path, key), scope, where, (*inner, key))
            return value
        if isinstance(value, list):
            for index, item in enumerate(value):
                value[index] = self._rewrite_in(item, (*path, index), scope, where, (*inner, index))
            return value
        if not isinstance(value, str):
            return value
        keys = [part for part in inner if isinstance(part, str)]
        expression = bool(keys) and (
            keys[-1] in _EXPRESSION_KEYS or tuple(keys[-2:]) in _EXPRESSION_PAIRS
        )
        if not expression and not has_template(value):
            return value
        if inner and inner[0] in _RULE_FIELDS:
            scope = dataclasses.replace(scope, own_result="result")
        text, changes = rewrite_template(value, scope, expression=expression)
        if changes:
            self.warn(path, f"{where} {_field(inner)}", "rewrote " + ", ".join(changes))
        return text

    # --- workbook -----------------------------------------------------------------

    def _workbook(self, raw_entries: Any) -> None:
        if not isinstance(raw_entries, list):
            self.warn(("workbook",), "workbook", "is not a list; left out")
            return
        for index, raw in enumerate(raw_entries):
            path: Path = ("workbook", index)
            if not isinstance(raw, dict):
                self.warn(path, f"workbook[{index}]", f"is not a mapping; left out: {_short(raw)}")
                continue
            name = raw.get("name") or raw.get("task")
            where = f"workbook {name!r}"
            if not name:
                name = f"task_{index}"
                self.warn(path, f"workbook[{index}]", f"has no name; using {name!r}")
            entry: dict[str, Any] = {"name": name}
            desc = raw.get("desc", raw.get("description"))
            if desc is not None:
                entry["desc"] = desc
            rest = {
                k: v
                for k, v in raw.items()
                if k not in ("desc", "description")
                and not (k == "name" or (k == "task" and not raw.get("name")))
            }
            self._drop_untranslated(rest, path, where)
            args = _merge_args(rest.pop("args", None), rest.pop("with", None))
            tool = self._tool(rest, path, where)
            if args:
                tool.setdefault("args", args)
            entry["tool"] = tool
            self.workbook.append(_OutItem(entry, index))

    # --- workflow -----------------------------------------------------------------

    def _workflow(self, raw_steps: Any) -> None:
        if not isinstance(raw_steps, list):
            raise MigrationError("the input has no `workflow` list of steps")
        for index, raw in enumerate(raw_steps):
            if not isinstance(raw, dict):
                self.warn(
                    ("workflow", index), f"workflow[{index}]", f"is not a step: {_short(raw)}"
                )
                continue
            self.steps.append(_OutItem(self._step(raw, index), index))
        self._add_missing_start_and_end()

    def _step(self, raw: dict[str, Any], index: int) -> dict[str, Any]:
        path: Path = ("workflow", index)
        name = raw.get("step")
        if not isinstance(name, str) or not name:
            name = f"step_{index}"
            self.warn(path, f"workflow[{index}]", f"has no `step` name; using {name!r}")
        where = f"step {name!r}"
        out: dict[str, Any] = {"step": name}
        desc = raw.get("desc", raw.get("description"))
        if desc is not None:
            out["desc"] = desc

        rest = {k: v for k, v in raw.items() if k not in ("step", "desc", "description")}
        structural_next = rest.pop("next", None)
        case = self._user_case(rest.pop("case", None), path, where)
        retry = {key: rest.pop(key) for key in ("retry", "retry_when", "stop_when") if key in rest}
        max_iterations = rest.pop("max_iterations", None)
        after_step = {key: rest.pop(key) for key in ("vars", "sink", "save") if key in rest}
        after = rest.pop("after", None)
        self._drop_untranslated(rest, path, where)
        args = _merge_args(
            self._input(rest.pop("input", None), path, where), rest.pop("args", None)
        )
        args = _merge_args(args, rest.pop("with", None))

        kind = rest.get("type") if "type" in rest else rest.get("tool")
        loop = rest.pop("loop", None)
        if isinstance(kind, str) and kind in _ITERATOR_KINDS:
            loop, tool, inner_args = self._iterator(rest, path, where)
            args = _merge_args(args, inner_args)
        else:
            if "data" in rest and self._kind_of(rest) != "http":
                args = _merge_args(args, rest.pop("data"))
            tool = self._tool(rest, path, where)
        if args:
            out["args"] = args
        if loop is not None:
            out["loop"] = self._loop(loop, path, where)
        retry_rules, paging = self._retry_rules(retry, path, where, tool.get("kind"))
        if paging.max_calls is not None and max_iterations is None:
            max_iterations = paging.max_calls
        if max_iterations is not None:
            out["max_iterations"] = max_iterations
        out["tool"] = tool

        shadowing = any(isinstance(r, dict) and _CALL_DONE in str(r.get("when")) for r in case)
        case.extend(retry_rules)
        done = self._after_call(after_step, paging, path, where, shadowing)
        if done:
            case.append({"when": "{{ " + _GOOD_CALL + " }}", "then": done})
        case.extend(self._after_rules(after, path, where))
        structural, rules = self._next(structural_next, path, where)
        case.extend(rules)
        if case:
            out["case"] = case
        if structural:
            out["next"] = (
                structural[0]
                if len(structural) == 1 and isinstance(structural[0], str)
                else structural
            )
        return out

    def _drop_untranslated(self, fields: dict[str, Any], path: Path, where: str) -> None:
        """Remove (and report) v1 fields that have no v2 equivalent."""
        for field, why in _UNTRANSLATED_STEP_FIELDS.items():
            if field in fields:
                self.warn(
                    (*path, field),
                    where,
                    f"`{field}` was not translated ({why}); left out: {_short(fields.pop(field))}",
                )

    def _kind_of(self, raw: dict[str, Any]) -> str | None:
        kind = raw.get("type", raw.get("tool"))
        if not isinstance(kind, str):
            return kind.get("kind") if isinstance(kind, dict) else None
        return _KIND_ALIASES.get(kind, kind)

    def _tool(self, raw: dict[str, Any], path: Path, where: str) -> dict[str, Any]:
        """A v2 tool from a v1 action: `type`/`tool` plus the fields beside it."""
        fields = dict(raw)
        if isinstance(fields.get("tool"), dict) and "type" not in fields:
            tool = dict(fields.pop("tool"))
            for key in fields:
                self.warn(
                    (*path, key),
                    where,
                    f"`{key}` beside a v2 `tool` has no v2 equivalent; left out:"
                    f" {_short(fields[key])}",
                )
            self._bind_sql(tool, (*path, "tool"), where)
            return tool
        v1_kind = fields.pop("type", None)
        tool_kind = fields.pop("tool", None)
        if v1_kind is None:
            v1_kind = tool_kind
        elif tool_kind is not None:
            fields["tool"] = tool_kind
        if v1_kind is None:
            if fields:
                self.warn(
                    path,
                    where,
                    "has no `type`; it became `kind: noop`, keeping its fields in the tool: "
                    + ", ".join(map(str, fields)),
                )
            return {"kind": "noop", **fields}
        kind = _KIND_ALIASES.get(str(v1_kind), str(v1_kind))
        if kind not in KNOWN_TOOL_KINDS:
            self.warn(
                path,
                where,
                f"`type: {v1_kind}` has no v2 tool kind (known: {', '.join(KNOWN_TOOL_KINDS)}); "
                f"it became `kind: noop`; its fields were left out: {_short(fields)}: rewrite it",
            )
            return {"kind": "noop"}
        if kind == "postgres" and "sql" in fields and "command" not in fields:
            fields["command"] = fields.pop("sql")
        if kind == "postgres":
            tool = {"kind": kind, **fields}
            self._bind_sql(tool, path, where)
            return tool
        if kind == "http":
            if "payload" in fields:
                self.warn(
                    (*path, "payload"),
                    where,
                    "`payload` was kept as a tool field; v2 http sends `json`/`data` as the body "
                    "and `params` as the query string: rename it",
                )
            if "data" in fields:
                self.warn(
                    (*path, "data"),
                    where,
                    "`data` on an http step is now the request body; if it held step inputs, "
                    "move it to `args`",
                )
        return {"kind": kind, **fields}

    def _iterator(
        self, raw: dict[str, Any], path: Path, where: str
    ) -> tuple[dict[str, Any], dict[str, Any], dict[str, Any]]:
        fields = dict(raw)
        fields.pop("type", None)
        fields.pop("tool", None)
        loop = {
            "in": fields.pop("collection", fields.pop("in", None)),
            "iterator": fields.pop("element", fields.pop("iterator", "item")),
        }
        if "mode" in fields:
            loop["mode"] = fields.pop("mode")
        task = fields.pop("task", None)
        inner_args = _merge_args(fields.pop("with", None), fields.pop("data", None))
        if isinstance(task, str):
            tool: dict[str, Any] = {"kind": "workbook", "task": task}
        elif isinstance(task, dict):
            inner = dict(task)
            inner_args = _merge_args(inner_args, inner.pop("with", None), inner.pop("args", None))
            if "data" in inner and self._kind_of(inner) != "http":
                inner_args = _merge_args(inner_args, inner.pop("data"))
            self._drop_untranslated(inner, (*path, "task"), f"{where} task")
            tool = self._tool(inner, (*path, "task"), where)
        else:
            self.warn(path, where, "iterator without a `task`; the loop runs a noop tool")
            tool = {"kind": "noop"}
        if fields:
            self.warn(
                path,
                where,
                "iterator fields with no v2 equivalent were left out: " + _short(fields),
            )
        return loop, tool, inner_args

    def _loop(self, loop: Any, path: Path, where: str) -> Any:
        if not isinstance(loop, dict):
            return loop
        out = dict(loop)
        if "collection" in out and "in" not in out:
            out["in"] = out.pop("collection")
        if "element" in out and "iterator" not in out:
            out["iterator"] = out.pop("element")
        spec = out.pop("spec", None)
        if isinstance(spec, dict):  # NoETL `loop.spec: {mode, max_in_flight}`
            moved = {k: spec[k] for k in ("mode", "max_in_flight") if k in spec}
            out.update({k: v for k, v in moved.items() if k not in out})
            left = {k: v for k, v in spec.items() if k not in moved}
            self.warn(
                (*path, "loop", "spec"),
                f"{where} loop.spec",
                f"became loop fields: {', '.join(moved) or 'none'}"
                + (f"; left out: {_short(left)}" if left else ""),
            )
        elif spec is not None:
            self.warn((*path, "loop", "spec"), f"{where} loop.spec", f"left out: {_short(spec)}")
        if out.get("in") is None:
            self.warn((*path, "loop"), where, "loop without a collection (`in`)")
        return out

    # --- NoETL step fields: input, retry, vars, sink/save, after -------------------------

    def _input(self, value: Any, path: Path, where: str) -> dict[str, Any] | None:
        if value is None:
            return None
        if not isinstance(value, dict):
            self.warn(
                (*path, "input"), f"{where} input", f"is not a mapping; left out: {_short(value)}"
            )
            return None
        self.warn((*path, "input"), f"{where} input", "became `args` (the step's own inputs)")
        return value

    def _retry_rules(self, fields: dict[str, Any], path: Path, where: str, kind: Any):
        """`case` rules for every NoETL retry form, and what pagination asks of the step."""
        paging = _Paging()
        policies = self._retry_policies(fields, path, where)
        rules: list[dict[str, Any]] = []
        for policy in policies:
            if kind == "http" and policy.kind == "success":
                policy.response = _HTTP_BODY  # NoETL's success-side `response` is the body
            cond = self._retry_condition(policy, path, where)
            then: dict[str, Any] = {}
            if policy.next_call is not None:
                paging.max_calls = policy.fields.get("max_attempts", paging.max_calls)
                collect = self._collect(policy, path, where, paging)
                if collect is not None:
                    then["collect"] = collect
                then["call"] = policy.next_call
                if policy.response != "response" and isinstance(policy.next_call, dict):
                    then["call"] = self._renamed(
                        policy.next_call,
                        {"response": policy.response},
                        (*policy.path, "next_call"),
                        where,
                        _BODY_NOTE,
                    )
                self.warn(
                    policy.path,
                    f"{where} {policy.label}",
                    "pagination became a `case` rule on call.done that asks for the next page"
                    " with `call`"
                    + (
                        f"; `max_attempts` became `max_iterations: {paging.max_calls}`"
                        if "max_attempts" in policy.fields
                        else ""
                    ),
                )
                extra = set(policy.fields) - {"max_attempts"}
                if extra:
                    self.warn(
                        policy.path,
                        f"{where} {policy.label}",
                        f"fields left out of pagination: {', '.join(sorted(extra))}",
                    )
            else:
                then["retry"] = {k: v for k, v in policy.fields.items() if k in _RETRY_FIELDS}
                self.warn(
                    policy.path,
                    f"{where} {policy.label}",
                    f"became a `case` rule on call.done with `retry` ({policy.kind} side)",
                )
            if policy.sink is not None:
                action, notes = translate_sink(policy.sink, f"{policy.label}.sink")
                self._notes(notes, policy.path, where)
                if action is not None:
                    then = {**then, **action}
            rules.append({"when": "{{ " + cond + " }}", "then": then})
        return rules, paging

    def _retry_policies(self, fields: dict[str, Any], path: Path, where: str) -> list[_Policy]:
        retry = fields.get("retry")
        out: list[_Policy] = []
        retry_path = (*path, "retry")
        if retry is None or retry is False:
            pass
        elif retry is True:
            out.append(_Policy("error", None, {}, retry_path, "retry"))
        elif isinstance(retry, int):
            out.append(_Policy("error", None, {"max_attempts": retry}, retry_path, "retry"))
        elif isinstance(retry, list):
            for index, item in enumerate(retry):
                policy = self._policy(item, (*retry_path, index), f"retry[{index}]", None, where)
                if policy is not None:
                    out.append(policy)
        elif isinstance(retry, dict) and ({"on_error", "on_success"} & set(retry)):
            for key in ("on_error", "on_success"):
                if key in retry:
                    kind = "error" if key == "on_error" else "success"
                    policy = self._policy(
                        retry[key], (*retry_path, key), f"retry.{key}", kind, where
                    )
                    if policy is not None:
                        out.append(policy)
            for key in set(retry) - {"on_error", "on_success"}:
                self.warn((*retry_path, key), where, f"`retry.{key}` was not translated; left out")
        elif isinstance(retry, dict):
            policy = self._policy(retry, retry_path, "retry", None, where)
            if policy is not None:
                out.append(policy)
        else:
            self.warn(retry_path, where, f"`retry` left out: {_short(retry)}")
        for key in ("retry_when", "stop_when"):
            if key in fields:  # step-level v1 conditions belong to the (first) error policy
                target = next((p for p in out if p.kind == "error"), None)
                if target is None:
                    target = _Policy("error", None, {}, (*path, key), key)
                    out.insert(0, target)
                setattr(target, key.removesuffix("_when"), fields[key])
                target.cond_paths[key] = (*path, key)
        return out

    def _policy(self, raw: Any, path: Path, field: str, kind: str | None, where: str):
        if not isinstance(raw, dict):
            self.warn(path, where, f"`{field}` is not a mapping; left out: {_short(raw)}")
            return None
        spec = dict(raw)
        then = spec.pop("then", None)
        if isinstance(then, dict):
            spec.update(then)
        cond_paths: dict[str, Path] = {}
        for key, name in (
            ("when", "when"),
            ("while", "when"),
            ("retry_when", "retry_when"),
            ("stop_when", "stop_when"),
        ):
            if key in spec:
                cond_paths[name] = (*path, key)
            elif isinstance(then, dict) and key in then:
                cond_paths[name] = (*path, "then", key)
        when = spec.pop("when", None)
        when = spec.pop("while", when)
        retry_when = spec.pop("retry_when", None)
        stop = spec.pop("stop_when", None)
        next_call = spec.pop("next_call", None)
        collect = spec.pop("collect", None)
        sink = spec.pop("sink", None)
        policy_fields = {k: spec.pop(k) for k in list(spec) if k in _RETRY_FIELDS}
        for key, value in spec.items():
            self.warn(
                (*path, key),
                where,
                f"`{field}.{key}` was not translated; left out: {_short(value)}",
            )
        if kind is None:
            text = str(when or retry_when or "")
            mentions_response = "response" in text and "error" not in text
            kind = "success" if next_call is not None or mentions_response else "error"
        policy = _Policy(kind, when, policy_fields, path, field)
        policy.retry = retry_when
        policy.stop = stop
        policy.next_call = next_call
        policy.collect = collect
        policy.sink = sink
        policy.cond_paths = cond_paths
        return policy

    def _retry_condition(self, policy: _Policy, path: Path, where: str) -> str:
        guard = _FAILED_CALL if policy.kind == "error" else _GOOD_CALL
        status = "error.status" if policy.kind == "error" else "response.status"
        parts = [guard]
        conditions = ((policy.when, False), (policy.retry, False), (policy.stop, True))
        for (text, negate), key in zip(
            conditions, ("when", "retry_when", "stop_when"), strict=True
        ):
            if text is None:
                continue
            at = policy.cond_paths.get(key, policy.path)
            cond = self._condition(text, at, where)
            label = f"{where} {_field(at[2:])}"
            if cond is None:
                self.warn(at, label, f"condition {text!r} is not one expression; left out")
                continue
            renames = {"status_code": status, "status": status}
            if policy.response != "response":
                renames["response"] = policy.response
            renamed, changes = rewrite_template(
                cond, TemplateScope(renames=renames), expression=True
            )
            if changes:
                note = _BODY_NOTE + ": " if "response" in renames else ""
                self.warn(at, label, note + "rewrote " + ", ".join(changes))
            parts.append(f"not ({renamed})" if negate else f"({renamed})")
        return " and ".join(parts)

    def _collect(self, policy: _Policy, path: Path, where: str, paging: _Paging):
        raw = policy.collect
        if raw is None:
            return None
        field = f"{where} {policy.label}.collect"
        if not isinstance(raw, dict):
            self.warn(policy.path, field, f"is not a mapping; left out: {_short(raw)}")
            return None
        into = raw.get("into")
        if not isinstance(into, str) or not into.isidentifier():
            into = "pages"
            self.warn(policy.path, field, "has no `into` name; collecting into ctx `pages`")
        strategy = raw.get("strategy", raw.get("mode", "append"))
        mode = _COLLECT_MODES.get(str(strategy))
        if mode is None:
            mode = "extend"
            self.warn(policy.path, field, f"`strategy: {strategy}` has no equivalent; using extend")
        where_from = raw.get("path")
        source = f"{policy.response}.{where_from}" if where_from else policy.response
        collect = {"from": source, "into": into, "mode": mode}
        self.warn(
            policy.path,
            field,
            f"became `collect: {{from: {source}, into: {into}, mode: {mode}}}`; the step's result"
            f" is ctx.{into}",
        )
        paging.collect = collect
        return collect

    def _after_call(
        self, fields: dict[str, Any], paging: _Paging, path: Path, where: str, shadowed: bool
    ) -> list[dict[str, Any]] | dict[str, Any] | None:
        """The `then` of the rule on a successful call.done: the last page, vars, sinks."""
        first: dict[str, Any] = {}
        if paging.collect is not None:
            first = {"collect": paging.collect, "result": {"from": f"ctx.{paging.collect['into']}"}}
        renames = {"result": f"ctx.{paging.collect['into']}" if paging.collect else "response"}
        second: dict[str, Any] = {}
        if "vars" in fields:
            if isinstance(fields["vars"], dict):
                values = self._renamed(dict(fields["vars"]), renames, (*path, "vars"), where)
                second["set"] = {"ctx": values}
                self.warn(
                    (*path, "vars"),
                    f"{where} vars",
                    "became `set: {ctx: ...}` in a rule on a successful call.done;"
                    " `vars.x` is read as `ctx.x`",
                )
            else:
                self.warn(
                    (*path, "vars"),
                    f"{where} vars",
                    f"is not a mapping; left out: {_short(fields['vars'])}",
                )
        thens: list[dict[str, Any]] = []
        for key in ("sink", "save"):
            if key not in fields:
                continue
            raw = fields[key]
            for index, item in enumerate(raw if isinstance(raw, list) else [raw]):
                sub = (*path, key, index) if isinstance(raw, list) else (*path, key)
                action, notes = translate_sink(item, key)
                self._notes(notes, sub, where)
                if action is not None:
                    thens.append(self._renamed(action, renames, sub, where))
        extra_sinks: list[dict[str, Any]] = []
        for then in thens:
            if "set" in then:
                second.setdefault("set", {"ctx": {}})["ctx"].update(then["set"]["ctx"])
            elif "sink" in second:
                extra_sinks.append(then)
            else:
                second["sink"] = then["sink"]
        if (second or extra_sinks) and shadowed:
            self.warn(
                path,
                where,
                "a `case` rule on call.done above the new rule fires first;"
                " when it does, the vars and sinks do not run: merge them into it",
            )
        parts = [p for p in (first, second, *extra_sinks) if p]
        if not parts:
            return None
        return parts[0] if len(parts) == 1 else parts

    def _renamed(
        self,
        then: dict[str, Any],
        renames: dict[str, str],
        path: Path,
        where: str,
        context: str = "moved to call.done",
    ) -> dict[str, Any]:
        """Templates of an action at an event that calls things by other names (`result`
        is `response` on call.done)."""
        scope = TemplateScope(renames=renames)
        changes: list[str] = []

        def walk(value: Any) -> Any:
            if isinstance(value, dict):
                return {k: walk(v) for k, v in value.items()}
            if isinstance(value, list):
                return [walk(v) for v in value]
            if isinstance(value, str) and has_template(value):
                text, done = rewrite_template(value, scope)
                changes.extend(c for c in done if c not in changes)
                return text
            return value

        out = walk(then)
        if changes:
            self.warn(
                path,
                f"{where} {_field(path[2:])}",
                f"{context}: rewrote " + ", ".join(changes),
            )
        return out

    def _after_rules(self, after: Any, path: Path, where: str) -> list[dict[str, Any]]:
        """NoETL `after:` rules run when the step ends: `case` rules on step.exit."""
        if after is None:
            return []
        rules: list[dict[str, Any]] = []
        entries = after if isinstance(after, list) else [after]
        for index, entry in enumerate(entries):
            sub = (*path, "after", index) if isinstance(after, list) else (*path, "after")
            then = entry.get("then", entry.get("do")) if isinstance(entry, dict) else None
            if then is None:
                self.warn(sub, f"{where} after", f"has no `then`; left out: {_short(entry)}")
                continue
            if not (isinstance(then, dict) and set(then) <= set(THEN_ACTIONS)):
                targets = self._targets(then, sub, where)
                then = {"next": targets} if targets else None
            if not then:
                self.warn(sub, f"{where} after", f"`then` left out: {_short(entry)}")
                continue
            cond = self._condition(entry.get("when", True), sub, where)
            when = _STEP_EXIT if cond in (None, "true") else f"{_STEP_EXIT} and ({cond})"
            if cond is None:
                self.warn(sub, f"{where} after", "condition is not one expression; left out")
            rules.append({"when": "{{ " + when + " }}", "then": then})
            self.warn(sub, f"{where} after", "became a `case` rule on step.exit")
        return rules

    def _user_case(self, case: Any, path: Path, where: str) -> list[Any]:
        """The step's own `case` rules, with NoETL's shapes in them translated: `response`
        in a rule on step.exit (which carries `result`), `set` as a list of {name, value},
        and NoETL-shaped sink actions."""
        rules = list(case or []) if isinstance(case, list) else ([case] if case else [])
        for index, rule in enumerate(rules):
            if not isinstance(rule, dict):
                continue
            sub = (*path, "case", index)
            when = str(rule.get("when", ""))
            if str(EventName.STEP_EXIT) in when and str(EventName.CALL_DONE) not in when:
                rule = rules[index] = self._renamed(
                    rule, {"response": "result"}, sub, where, "on step.exit"
                )
            thens = rule.get("then")
            listed = thens if isinstance(thens, list) else [thens]
            for number, then in enumerate(listed):
                if isinstance(then, dict):
                    listed[number] = self._user_then(then, (*sub, "then"), where)
            if "then" in rule:
                rule["then"] = listed if isinstance(thens, list) else listed[0]
        return rules

    def _user_then(self, then: dict[str, Any], path: Path, where: str) -> dict[str, Any]:
        then = dict(then)
        written = then.get("set")
        if isinstance(written, list):
            pairs = [i for i in written if isinstance(i, dict) and {"name", "value"} <= set(i)]
            then["set"] = {"ctx": {item["name"]: item["value"] for item in pairs}}
            self.warn(
                (*path, "set"),
                f"{where} {_field((*path[2:], 'set'))}",
                "a list of {name, value} became `set: {ctx: {name: value}}`"
                + ("" if len(pairs) == len(written) else "; other entries left out"),
            )
        sink = then.get("sink")
        if not isinstance(sink, dict):
            return then
        tool = sink.get("tool")
        if isinstance(tool, dict) and "table" not in tool:
            self._bind_sql(tool, (*path, "sink", "tool"), where)
            return then
        action, notes = translate_sink(sink, "case sink")
        self._notes(notes, path, where)
        then.pop("sink")
        if action is not None:
            then.update(action)
        return then

    def _notes(self, notes: list[tuple[str, str]], path: Path, where: str) -> None:
        for field, message in notes:
            self.warn(path, f"{where} {field}", message)

    def _bind_sql(self, tool: dict[str, Any], tool_path: Path, where: str) -> None:
        """Jinja in postgres SQL text: into bound params where it is a value (see migrate_sql)."""
        if tool.get("kind") != "postgres" or tool.get("template_sql") is True:
            return
        for key in ("query", "command"):
            sql = tool.get(key)
            if not isinstance(sql, str) or not has_template(sql):
                continue
            done = bind_sql_templates(sql, tool.get("params"))
            tool[key] = done.sql
            if done.params is not None:
                tool["params"] = done.params
            if done.template_sql:
                tool["template_sql"] = True
            what = "; ".join(done.changes)
            if done.template_sql:
                what += "; set `template_sql: true` (the SQL text is rendered on purpose)"
            self.warn((*tool_path, key), f"{where} tool.{key}", "Jinja in SQL text: " + what)

    # --- next -----------------------------------------------------------------------

    def _targets(self, value: Any, path: Path, where: str) -> list[Any]:
        if value is None:
            return []
        if isinstance(value, str | dict):
            value = [value]
        if not isinstance(value, list):
            self.warn(path, where, f"`next` target is not a step: {_short(value)}")
            return []
        out: list[Any] = []
        for item in value:
            if isinstance(item, str):
                out.append(item)
            elif isinstance(item, dict) and isinstance(item.get("step"), str):
                args = _merge_args(item.get("args"), item.get("with"), item.get("data"))
                extra = [k for k in item if k not in ("step", "args", "with", "data")]
                if extra:
                    self.warn(
                        path,
                        where,
                        f"`next` target {item['step']!r}: fields left out: {', '.join(extra)}",
                    )
                out.append({"step": item["step"], "args": args} if args else item["step"])
            else:
                self.warn(path, where, f"`next` target is not a step: {_short(item)}")
        return out

    def _condition(self, when: Any, path: Path, where: str) -> str | None:
        if isinstance(when, bool):
            return "true" if when else "false"
        if not isinstance(when, str):
            return None
        if "this." in when:
            self.warn(
                path,
                where,
                f"condition {when!r} uses v1 `this`; in v2 the step's result is `result`",
            )
        match = _SINGLE_EXPRESSION.match(when)
        if match and "{{" not in match.group("expr") and "{%" not in match.group("expr"):
            return match.group("expr").strip()
        if "{{" not in when and "{%" not in when:
            return when.strip()
        return None

    def _rule(self, cond: str | None, original: Any, targets: list[Any], path: Path, where: str):
        if cond is None:
            self.warn(
                path,
                where,
                f"condition {original!r} is not one `{{{{ expression }}}}`; it was kept as the "
                "rule's `when` as written, so the rule is not limited to `step.exit`: review it",
            )
            when = str(original)
        else:
            when = "{{ " + _STEP_EXIT + " and (" + cond + ") }}"
        return {"when": when, "then": {"next": targets}}

    def _next(self, raw: Any, path: Path, where: str) -> tuple[list[Any], list[dict[str, Any]]]:
        """The structural `next` targets and the `case` rules for conditional ones."""
        next_path = (*path, "next")
        if raw is None:
            return [], []
        entries = raw if isinstance(raw, list) else [raw]
        structural: list[Any] = []
        conditional: list[tuple[str | None, Any, list[Any], Path]] = []
        prior: list[str] = []
        for index, entry in enumerate(entries):
            entry_path = (*next_path, index) if isinstance(raw, list) else next_path
            if isinstance(entry, str):
                structural.append(entry)
                continue
            if not isinstance(entry, dict):
                self.warn(entry_path, where, f"`next` entry left out: {_short(entry)}")
                continue
            if "when" in entry:
                cond = self._condition(entry["when"], entry_path, where)
                targets = self._targets(entry.get("then"), entry_path, where)
                if "step" in entry:
                    targets += self._targets(
                        {k: v for k, v in entry.items() if k in ("step", "args", "with", "data")},
                        entry_path,
                        where,
                    )
                conditional.append((cond, entry["when"], targets, entry_path))
                if cond is not None:
                    prior.append(cond)
                if "else" in entry:
                    negated = f"not ({cond})" if cond is not None else None
                    else_targets = self._targets(entry["else"], entry_path, where)
                    conditional.append((negated, entry["when"], else_targets, entry_path))
            elif "else" in entry:
                negated = " and ".join(f"not ({c})" for c in prior) or "true"
                targets = self._targets(entry["else"], entry_path, where)
                conditional.append((negated, "else", targets, entry_path))
            elif "then" in entry:
                structural.extend(self._targets(entry["then"], entry_path, where))
            else:
                structural.extend(self._targets(entry, entry_path, where))
        rules = [
            self._rule(cond, original, targets + structural, p, where)
            for cond, original, targets, p in conditional
        ]
        return structural, rules

    # --- start / end ----------------------------------------------------------------

    def _add_missing_start_and_end(self) -> None:
        names = {item.data["step"] for item in self.steps}
        referenced: set[str] = set()
        for item in self.steps:
            for target in _all_targets(item.data):
                referenced.add(target)
        if "end" in referenced and "end" not in names:
            self.steps.append(_OutItem({"step": "end", "tool": {"kind": "noop"}}, None))
            self.warnings.append("added a `noop` step `end`: the v1 playbook refers to it")
        if self.steps and "start" not in names:
            first = self.steps[0].data["step"]
            start = {"step": "start", "tool": {"kind": "noop"}, "next": [first]}
            self.steps.insert(0, _OutItem(start, None))
            self.warnings.append(f"added a `noop` step `start` that goes to {first!r}")


def _field(path: Path) -> str:
    text = ""
    for part in path:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text


def _strings(value: Any, path: Path):
    if isinstance(value, dict):
        for key, item in value.items():
            yield from _strings(item, (*path, key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from _strings(item, (*path, index))
    elif isinstance(value, str):
        yield path, value


def _iterators(step: dict[str, Any]) -> set[str]:
    loop = step.get("loop")
    if isinstance(loop, dict):
        return {str(loop.get("iterator") or loop.get("element") or "item")}
    kind = step.get("type", step.get("tool"))
    if isinstance(kind, str) and kind in _ITERATOR_KINDS:
        return {str(step.get("element") or step.get("iterator") or "item")}
    return set()


def _ctx_keys(steps: list[dict[str, Any]]) -> set[str]:
    """Names some rule (or NoETL `vars`, `collect`) writes into ctx."""
    keys: set[str] = set()

    def walk(value: Any, key: Any = None) -> None:
        if isinstance(value, dict):
            if key in ("set", "vars"):
                keys.update(k for k in value if isinstance(k, str) and k != "ctx")
                if isinstance(value.get("ctx"), dict):
                    keys.update(k for k in value["ctx"] if isinstance(k, str))
            if key == "collect" and isinstance(value.get("into"), str):
                keys.add(value["into"])
            for k, v in value.items():
                walk(v, k)
        elif isinstance(value, list):
            for item in value:
                walk(item, key)

    walk(steps)
    return keys


def _step_arg_names(step: dict[str, Any], steps: list[dict[str, Any]]) -> set[str]:
    """The names a step's args hold in the input: its own and those passed to it by next."""
    names: set[str] = set()
    own = ["args", "with", "input"]
    if step.get("type", step.get("tool")) != "http":
        own.append("data")
    for key in own:
        if isinstance(step.get(key), dict):
            names.update(step[key])
    task = step.get("task")
    if isinstance(task, dict):
        for key in ("args", "with", "data"):
            if isinstance(task.get(key), dict):
                names.update(task[key])

    def walk(value: Any) -> None:
        if isinstance(value, dict):
            if value.get("step") == step.get("step"):
                for key in ("args", "with", "data"):
                    if isinstance(value.get(key), dict):
                        names.update(value[key])
            for item in value.values():
                walk(item)
        elif isinstance(value, list):
            for item in value:
                walk(item)

    for other in steps:
        walk(other.get("next"))
        walk(other.get("case"))
    return {name for name in names if isinstance(name, str)}


def _all_targets(step: dict[str, Any]) -> list[str]:
    def names(value: Any) -> list[str]:
        value = value if isinstance(value, list) else [value]
        return [
            v if isinstance(v, str) else v.get("step")
            for v in value
            if isinstance(v, str) or (isinstance(v, dict) and isinstance(v.get("step"), str))
        ]

    out = names(step.get("next") or [])
    for rule in step.get("case") or []:
        thens = rule.get("then") if isinstance(rule, dict) else None
        for then in thens if isinstance(thens, list) else [thens]:
            if isinstance(then, dict) and then.get("next") is not None:
                out += names(then["next"])
    return out


# --- comments --------------------------------------------------------------------------

Anchor = tuple[str, Any]


def _comment_spans(text: str) -> tuple[list[tuple[int, str]], int]:
    """(0-based line, comment text) of every comment, found outside the YAML tokens,
    and the last line that holds YAML content."""
    covered: dict[int, list[tuple[int, int]]] = defaultdict(list)
    last_content = -1
    for token in yaml.scan(text, Loader=yaml.SafeLoader):
        start, end = token.start_mark, token.end_mark
        if not isinstance(token, yaml.StreamEndToken | yaml.BlockEndToken):
            last_content = max(last_content, end.line if end.column > 0 else end.line - 1)
        if start.line == end.line:
            covered[start.line].append((start.column, end.column))
        else:
            covered[start.line].append((start.column, 1 << 30))
            for line in range(start.line + 1, end.line):
                covered[line].append((0, 1 << 30))
            covered[end.line].append((0, end.column))
    out: list[tuple[int, str]] = []
    for number, line in enumerate(text.splitlines()):
        at = line.find("#")
        while at >= 0:
            free = not any(a <= at < b for a, b in covered[number])
            if free and (at == 0 or line[at - 1] in " \t"):
                out.append((number, line[at:].rstrip()))
                break
            at = line.find("#", at + 1)
    return out, last_content


def _comments_by_anchor(text: str, doc: LocatedDocument) -> dict[Anchor, list[str]]:
    """Comments grouped by the section, step or workbook entry they belong to."""
    anchors: list[tuple[int, Anchor]] = []  # 0-based start line
    data = doc.data
    for key in data:
        if (key,) in doc.keys:
            anchors.append((doc.keys[(key,)].line - 1, ("top", key)))
        if key in ("workflow", "workbook") and isinstance(data[key], list):
            for index in range(len(data[key])):
                if (key, index) in doc.keys:
                    anchors.append((doc.keys[(key, index)].line - 1, (key, index)))
    anchors.sort(key=lambda a: a[0])
    lines = text.splitlines()
    comments, last_content = _comment_spans(text)
    grouped: dict[Anchor, list[str]] = defaultdict(list)
    for line, comment in comments:
        owner: Anchor = ("header", None)
        full_line = not lines[line][: lines[line].find("#")].strip()
        if line > last_content:
            grouped[("trailer", None)].append(comment)
            continue
        if not anchors or line < anchors[0][0]:
            grouped[("header", None)].append(comment)  # the file's own header stays on top
            continue
        for start, anchor in anchors:
            if start <= line:
                owner = anchor
            elif full_line and all(lines[k].lstrip().startswith("#") for k in range(line, start)):
                owner = anchor  # a comment block directly above an anchor belongs to it
                break
            else:
                break
        grouped[owner].append(comment)
    return grouped


# --- emitting ---------------------------------------------------------------------------


class _Dumper(yaml.SafeDumper):
    """Block style, sequences indented under their key, multi-line strings as `|` blocks."""

    def increase_indent(self, flow: bool = False, indentless: bool = False) -> None:
        return super().increase_indent(flow, False)

    def ignore_aliases(self, data: Any) -> bool:
        return True  # a value used twice (one collect in two rules) is written twice


def _represent_str(dumper: yaml.SafeDumper, value: str) -> yaml.Node:
    style = None
    if "\n" in value:
        style = "|"
    elif "{{" in value or "{%" in value or "'" in value:
        style = '"'
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


_Dumper.add_representer(str, _represent_str)


def _dump(value: Any) -> str:
    return yaml.dump(
        value,
        Dumper=_Dumper,
        sort_keys=False,
        default_flow_style=False,
        allow_unicode=True,
        width=1000,  # a long template stays on one line
    )


def _indent(text: str, prefix: str) -> str:
    return "".join(prefix + line if line.strip() else line for line in text.splitlines(True))


def _emit(playbook: dict[str, Any], migrator: _Migrator, comments: dict[Anchor, list[str]]) -> str:
    moved_to_metadata = [c for key in _TOP_V1_META for c in comments.pop(("top", key), [])]
    parts: list[str] = []
    header = comments.pop(("header", None), [])
    header_part = ["\n".join(header) + "\n"] if header else []
    for key, value in playbook.items():
        block = ""
        above = comments.pop(("top", key), [])
        if key == "metadata":
            above += moved_to_metadata
        if above:
            block += "\n".join(above) + "\n"
        items = {"workflow": migrator.steps, "workbook": migrator.workbook}.get(key)
        if items is None:
            block += _dump({key: value})
        else:
            block += f"{key}:\n"
            rendered = []
            for item in items:
                text = ""
                if item.source_index is not None:
                    for comment in comments.pop((key, item.source_index), []):
                        text += f"  {comment}\n"
                text += _indent(_dump([item.data]), "  ")
                rendered.append(text)
            block += "\n".join(rendered)
        parts.append(block)
    leftover = [c for group in comments.values() for c in group]
    if leftover:
        parts.append("\n".join(leftover) + "\n")
    # apiVersion and kind stay together; every other section is set off by a blank line.
    text = "".join(header_part)
    for part in parts:
        tight = not text or part.startswith(("apiVersion:", "kind:"))
        text += part if tight else "\n" + part
    return text
