"""`duckdb`: SQL on an embedded DuckDB database, with bound parameters.

The optional extra `noetl-pg[duckdb]` brings the driver; without it a playbook with a
duckdb step fails validation, saying so. `query` (or `command`) is the SQL text; `params`
a mapping for `$name` placeholders or a list for `?` ones, bound by the driver, never
pasted into the text. `database` is a file path (default `:memory:`, a fresh database per
call). A call runs in a thread; past its timeout (`timeout`, else the command's
timeout_seconds) it is interrupted. Response `{rows: [{column: value}], row_count,
columns}`, JSON-safe like the postgres tool's; an SQL error is kind `sql`.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib
from typing import Any, ClassVar, Literal, Self

from pydantic import model_validator

from noetl_pg.protocol import ErrorKind
from noetl_pg.worker.tool import ToolContext, ToolError, ToolKind
from noetl_pg.worker.tools._sql import SqlTextConfig
from noetl_pg.worker.tools.postgres import json_safe

MISSING_EXTRA = (
    "the duckdb tool needs the optional extra: pip install 'noetl-pg[duckdb]' "
    "(the `duckdb` package is not installed)"
)


class DuckdbConfig(SqlTextConfig):
    named: ClassVar[str] = "$name"
    positional: ClassVar[str] = "?"

    kind: Literal["duckdb"] = "duckdb"
    database: str = ":memory:"

    @model_validator(mode="after")
    def _driver_installed(self) -> Self:
        _driver()
        return self


def _driver() -> Any:
    try:
        return importlib.import_module("duckdb")
    except ImportError:
        raise ValueError(MISSING_EXTRA) from None


async def run(config: DuckdbConfig, args: dict[str, Any], ctx: ToolContext[None]) -> Any:
    try:
        duckdb = _driver()
    except ValueError as exc:
        raise ToolError(ErrorKind.CONFIG, str(exc)) from None
    timeout = config.timeout or ctx.timeout_seconds
    try:
        conn = duckdb.connect(config.database)
    except duckdb.Error as exc:
        raise ToolError(ErrorKind.CONNECTION, f"cannot open {config.database!r}: {exc}") from None
    call = asyncio.ensure_future(asyncio.to_thread(_execute, conn, config.sql, config.params))
    try:
        done, _ = await asyncio.wait({call}, timeout=float(timeout) if timeout else None)
        if not done:
            conn.interrupt()  # the thread's statement stops; wait for it before closing
            with contextlib.suppress(duckdb.Error):
                await call
            raise ToolError(ErrorKind.TIMEOUT, f"the statement ran past its timeout of {timeout}s")
        return call.result()
    except duckdb.Error as exc:
        raise ToolError(ErrorKind.SQL, str(exc).strip()) from None
    finally:
        conn.close()


def _execute(conn: Any, sql: str, params: Any) -> dict[str, Any]:
    cursor = conn.execute(sql, params)
    if cursor.description is None:
        return {"rows": [], "row_count": -1, "columns": []}
    columns = [column[0] for column in cursor.description]
    rows = [dict(zip(columns, map(json_safe, row), strict=True)) for row in cursor.fetchall()]
    return {"rows": rows, "row_count": len(rows), "columns": columns}


KIND = ToolKind(config=DuckdbConfig, run=run)
