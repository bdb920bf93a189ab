"""NoETL's step-level `sink:` and v1 `save:` as this dialect's `sink` action (DSL.md section 7).

Accepted shapes (postgres only; anything else is reported, not guessed):

- `{backend|storage|tool: postgres, table, from: EXPR}`: the rows EXPR gives (a list of
  mappings, or one mapping) are inserted with one bound parameter, as JSON:
  `INSERT INTO t SELECT * FROM jsonb_populate_recordset(NULL::t, ...)`. Keys that are no
  column are ignored; a column a row lacks is inserted as NULL (not its DEFAULT).
- `{tool: postgres, table, data|args: {column: value}, mode: upsert, key: [...]}` (the v1
  flat form): `INSERT INTO t (columns) VALUES (%(column)s, ...)`, and for `mode: upsert`
  `ON CONFLICT (key) DO UPDATE SET column = EXCLUDED.column`.
- `{tool: postgres, statement|command|query, params}`: the SQL as it is; NoETL's `:name`
  placeholders become `%(name)s`.
- `{tool: {kind, ...}, args}`: already a sink action.
- `{name, data}` (a v1 variable save): `set: {ctx: {name: data}}`.

`auth`/`credential`/`connection` become the tool's `connection` (a DSN, or a NAME looked up
as `NOETL_CONNECTION_<NAME>` by the worker).
"""

from __future__ import annotations

import re
from typing import Any

__all__ = ["translate_sink"]

_IDENTIFIER = re.compile(r"\A[A-Za-z_][A-Za-z0-9_$]*(\.[A-Za-z_][A-Za-z0-9_$]*)?\Z")
_COLON_PARAM = re.compile(r"(?<![:\w]):([A-Za-z_]\w*)")
_CONNECTION_KEYS = ("connection", "auth", "credential", "credentialRef")
_KIND_KEYS = ("backend", "storage", "tool", "type")
_SQL_KEYS = ("statement", "command", "query", "sql")
_SINGLE = re.compile(r"\A\s*\{\{(?P<expr>.*)\}\}\s*\Z", re.DOTALL)

Note = tuple[str, str]  # (field inside the sink, message)


def translate_sink(raw: Any, field: str) -> tuple[dict[str, Any] | None, list[Note]]:
    """A `then` mapping (`{sink: ...}` or `{set: ...}`) for one sink, and what was done."""
    if not isinstance(raw, dict):
        return None, [(field, f"is not a mapping; left out: {raw!r}")]
    spec = dict(raw)
    if isinstance(spec.get("storage"), dict):  # `save: {storage: {type: postgres, ...}}`
        spec = {**spec.pop("storage"), **spec}
    if isinstance(spec.get("tool"), dict):
        tool = dict(spec["tool"])
        rest = {k: v for k, v in spec.items() if k not in ("tool", "args")}
        args = spec.get("args") or {}
        notes = [(f"{field}.{k}", "has no place in a sink action; left out") for k in rest]
        if tool.get("kind") == "postgres" and "table" in tool and not _sql_of(tool):
            insert, more = _postgres({**tool, "data": args}, field)
            return ({"sink": {"tool": insert}} if insert else None), notes + more
        action: dict[str, Any] = {"tool": tool}
        if args:
            action["args"] = args
        return {"sink": action}, [*notes, (field, "became a `sink` action")]
    if "name" in spec and "data" in spec and not any(k in spec for k in _KIND_KEYS):
        return {"set": {"ctx": {spec["name"]: spec["data"]}}}, [
            (field, f"a variable save became `set: {{ctx: {{{spec['name']}: ...}}}}`")
        ]
    kind = next((spec.pop(k) for k in _KIND_KEYS if isinstance(spec.get(k), str)), None)
    if kind == "event_log":
        return None, [(field, "every result is already recorded in the events; left out")]
    if kind is None:
        return None, [(field, f"names no `backend`, `storage` or `tool` kind; left out: {raw!r}")]
    if kind != "postgres":
        return None, [
            (field, f"a sink to {kind!r} cannot be translated (only postgres); left out: {raw!r}")
        ]
    insert, notes = _postgres(spec, field)
    return ({"sink": {"tool": insert}} if insert else None), notes


def _sql_of(spec: dict[str, Any]) -> Any:
    return next((spec[k] for k in _SQL_KEYS if spec.get(k)), None)


def _postgres(spec: dict[str, Any], field: str) -> tuple[dict[str, Any] | None, list[Note]]:
    spec = dict(spec)
    spec.pop("kind", None)
    notes: list[Note] = []
    tool: dict[str, Any] = {"kind": "postgres"}
    connection = next((spec.pop(k) for k in _CONNECTION_KEYS if k in spec), None)
    for key in _CONNECTION_KEYS:
        spec.pop(key, None)
    sql = _sql_of(spec)
    for key in _SQL_KEYS:
        spec.pop(key, None)
    if sql is not None:
        params = spec.pop("params", None)
        if isinstance(params, dict) and isinstance(sql, str) and _COLON_PARAM.search(sql):
            sql = _COLON_PARAM.sub(r"%(\1)s", sql)
            notes.append((field, "`:name` placeholders became `%(name)s`"))
        tool["command"] = sql
        if params is not None:
            tool["params"] = params
        summary = "the SQL as written"
    else:
        built = _insert(spec, field, notes)
        if built is None:
            return None, notes
        tool.update(built)
        summary = f"an INSERT into {tool['command'].split()[2]}"
    if connection is not None:
        tool["connection"] = connection
        notes.append(
            (
                field,
                f"`auth`/`credential` became `connection: {connection}` (a DSN, or a NAME"
                " the worker reads from NOETL_CONNECTION_<NAME>)",
            )
        )
    for key, value in spec.items():
        notes.append((f"{field}.{key}", f"has no equivalent in a sink; left out: {value!r}"))
    notes.insert(0, (field, f"became a `sink` action with a postgres tool running {summary}"))
    return tool, notes


def _insert(spec: dict[str, Any], field: str, notes: list[Note]) -> dict[str, Any] | None:
    table = spec.pop("table", None)
    if not isinstance(table, str) or not _IDENTIFIER.match(table):
        notes.append((field, f"`table` {table!r} is not a table name; the sink was left out"))
        return None
    mode = spec.pop("mode", "append")
    key = spec.pop("key", None)
    keys = [key] if isinstance(key, str) else list(key or [])
    rows = spec.pop("from", None)
    data = spec.pop("data", spec.pop("args", None))
    if rows is None and isinstance(data, str):
        rows, data = data, None
    if isinstance(data, dict) and data:
        columns = list(data)
        bad = [c for c in columns if not isinstance(c, str) or not _IDENTIFIER.match(c)]
        if bad:
            notes.append((field, f"columns {bad!r} are not column names; the sink was left out"))
            return None
        sql = (
            f"INSERT INTO {table} ({', '.join(columns)}) "
            f"VALUES ({', '.join(f'%({c})s' for c in columns)})"
        )
        if mode == "upsert" and keys:
            updates = [c for c in columns if c not in keys]
            action = (
                "DO UPDATE SET " + ", ".join(f"{c} = EXCLUDED.{c}" for c in updates)
                if updates
                else "DO NOTHING"
            )
            sql += f" ON CONFLICT ({', '.join(keys)}) {action}"
        elif mode not in ("append", "insert"):
            notes.append((f"{field}.mode", f"`mode: {mode}` was not translated; rows are inserted"))
        return {"command": sql, "params": dict(data)}
    if isinstance(rows, str) and rows.strip():
        match = _SINGLE.match(rows)
        expression = match.group("expr").strip() if match else rows.strip()
        if "{{" in expression or "{%" in expression:
            notes.append((f"{field}.from", "is not one expression; the sink was left out"))
            return None
        if mode == "upsert":
            notes.append(
                (
                    f"{field}.mode",
                    "`mode: upsert` with `from` cannot name the columns to update;"
                    " rows are inserted: add an ON CONFLICT clause to the command",
                )
            )
        as_json = "%(rows)s::jsonb"
        sql = (
            f"INSERT INTO {table} SELECT * FROM jsonb_populate_recordset(NULL::{table}, "
            f"CASE jsonb_typeof({as_json}) WHEN 'array' THEN {as_json} "
            f"ELSE jsonb_build_array({as_json}) END)"
        )
        notes.append(
            (
                field,
                "rows are inserted from JSON: keys that are no column are ignored, a column"
                " a row lacks is inserted as NULL",
            )
        )
        return {"command": sql, "params": {"rows": "{{ (" + expression + ") | tojson }}"}}
    notes.append((field, "has neither `from` nor `data`: nothing to insert; the sink was left out"))
    return None
