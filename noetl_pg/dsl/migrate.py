"""Rewrite a v1 playbook as DSL v2 (DSL.md section 7).

What is translated:
- `type: K` and the tool fields beside it -> `tool: {kind: K, ...}` (`start`/`end`/`router`
  and steps without a type -> `kind: noop`; `type: iterator` -> `loop:` plus the inner task
  as the tool); `tool: K` (string) with sibling fields likewise;
- `with:` (and `data:` on non-http steps) -> `args:`;
- `next: [{when, then, else}]` -> `case` rules on `step.exit` with `next` actions; entries
  without a condition stay as the structural `next` (and are added to every rule too, since
  in v2 a fired `next` action replaces the structural one);
- a step-level `retry:` -> a `case` rule `call.done and error is defined` with `retry`;
- v1 top-level `name`/`path`/`version`/`description` -> `metadata`; `apiVersion`/`kind` set.

What is not translated is reported as a warning naming the step and line (the original
value is quoted in the warning, so nothing disappears silently): `save`, `as`, `assert`,
`retry_when`, tool kinds v2 does not have (kept as a `noop` tool with their fields), extra
metadata fields, unknown top-level sections.

Comments: every comment of the input is kept, but placed as a full-line comment just
above the top-level section, step or workbook entry it was in (or before); comments at
the end of a line move above their step too. Key order inside a step becomes the v2 order.
The output is validated with `parse_playbook`; a result that does not validate raises
MigrationError with the problems (a v1 playbook that was already broken, for instance).
"""

from __future__ import annotations

import json
import re
from collections import defaultdict
from dataclasses import dataclass
from typing import Any

import yaml

from .models import API_VERSION, KNOWN_TOOL_KINDS
from .parser import PlaybookError, parse_playbook
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
    "save": "v2 writes results with a `sink` action in a `case` rule",
    "as": "in v2 a step's result is visible under the step's name",
    "assert": "v2 has no assertions; check the result in a `case` rule and `fail`",
    "retry_when": "v2 retries with a `case` rule; edit its `when`",
    "stop_when": "v2 retries with a `case` rule; edit its `when`",
}
_RETRY_FIELDS = ("max_attempts", "initial_delay", "backoff_multiplier", "max_delay")
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
        raise MigrationError(
            "the migrated playbook does not validate as v2:\n" + str(exc), exc.problems
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

    def warn(self, path: Path, where: str, message: str) -> None:
        line = self.doc.where(path).line
        self.warnings.append(f"line {line}: {where}: {message}")

    # --- top level ----------------------------------------------------------------

    def run(self) -> dict[str, Any]:
        data = self.data
        out: dict[str, Any] = {"apiVersion": API_VERSION, "kind": "Playbook"}
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
        case = list(rest.pop("case", None) or [])
        retry = rest.pop("retry", None)
        max_iterations = rest.pop("max_iterations", None)
        self._drop_untranslated(rest, path, where)
        args = _merge_args(rest.pop("args", None), rest.pop("with", None))

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
        if max_iterations is not None:
            out["max_iterations"] = max_iterations
        out["tool"] = tool

        if retry is not None and retry is not False:
            case.append(self._retry_rule(retry, path, where))
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
            if fields:
                self.warn(
                    path,
                    where,
                    f"fields beside a v2 `tool` were moved into it: {', '.join(map(str, fields))}",
                )
                tool.update(fields)
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
                "it became `kind: noop` with its fields kept in the tool as `v1_type` and the "
                "rest: rewrite it",
            )
            return {"kind": "noop", "v1_type": v1_kind, **fields}
        if kind == "postgres" and "sql" in fields and "command" not in fields:
            fields["command"] = fields.pop("sql")
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
        if out.get("in") is None:
            self.warn((*path, "loop"), where, "loop without a collection (`in`)")
        return out

    def _retry_rule(self, retry: Any, path: Path, where: str) -> dict[str, Any]:
        policy: dict[str, Any] = {}
        if isinstance(retry, int) and not isinstance(retry, bool):
            policy["max_attempts"] = retry
        elif isinstance(retry, dict):
            for key, value in retry.items():
                if key in _RETRY_FIELDS:
                    policy[key] = value
                else:
                    self.warn(
                        (*path, "retry", key),
                        where,
                        f"`retry.{key}` was not translated (the rule retries on any failed call; "
                        f"edit its `when`); left out: {_short(value)}",
                    )
        return {
            "when": "{{ event.name == 'call.done' and error is defined }}",
            "then": {"retry": policy},
        }

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
            when = "{{ event.name == 'step.exit' and (" + cond + ") }}"
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
        width=100,
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
