"""`postgres`: SQL with bound parameters, on a small pool per DSN.

`query` (or `command`) is the SQL text; `params` a mapping for `%(name)s` placeholders
or a list for `%s` ones, always bound by the driver, never pasted into the text. Several
statements are allowed when there are no params (the result is the last statement's);
they run in one transaction. `timeout` (or the command's timeout_seconds) becomes the
transaction's statement_timeout.
`connection` (or `auth`) is a DSN or a NAME looked up as env `NOETL_CONNECTION_<NAME>`;
the default is the worker's own database, where the SQL and the command's report commit
in one transaction (exactly-once effects; see `_run_and_report`).
Response `{rows: [{column: value}], row_count, columns}` with JSON-safe values; an SQL
error is kind `sql` with `sqlstate`.
"""

from __future__ import annotations

import asyncio
import base64
import datetime as dt
import math
import uuid
from collections.abc import Mapping
from decimal import Decimal
from typing import Any, Literal

import psycopg
from psycopg.rows import dict_row
from psycopg_pool import AsyncConnectionPool, PoolTimeout

from noetl_pg.protocol import ErrorKind
from noetl_pg.store.db import KEEPALIVE
from noetl_pg.worker.report import CallReport
from noetl_pg.worker.tool import Reported, ToolContext, ToolError, ToolKind, WorkerSettings
from noetl_pg.worker.tools._sql import SqlTextConfig

CONNECTION_ENV_PREFIX = "NOETL_CONNECTION_"
POOL_TIMEOUT = 30.0


class PostgresConfig(SqlTextConfig):
    kind: Literal["postgres"] = "postgres"
    connection: str | None = None  # a DSN or a connection NAME; default: our own database
    auth: str | None = None  # another name for connection


async def run(config: PostgresConfig, args: dict[str, Any], ctx: ToolContext[PostgresPools]) -> Any:
    sql, params = config.sql, config.params
    timeout = config.timeout or ctx.timeout_seconds
    dsn = connection_dsn(config.connection or config.auth, ctx)
    own_database = ctx.queue.orchestrator is not None and dsn == ctx.settings.dsn
    try:
        pool = await ctx.resource.pool(dsn, probe=not own_database)
        if own_database:
            return await _run_and_report(pool, sql, params, timeout, ctx)
        async with pool.connection() as conn, conn.cursor(row_factory=dict_row) as cursor:
            return await _execute(cursor, sql, params, timeout)
    except psycopg.OperationalError as exc:
        if own_database:
            raise  # the SQL rolled back with its report: the worker hands the command back
        if isinstance(exc, PoolTimeout):
            raise ToolError(
                ErrorKind.CONNECTION, f"no database connection available: {exc}"
            ) from None
        raise _tool_error(exc, timeout) from None
    except psycopg.Error as exc:
        raise _tool_error(exc, timeout) from None


async def _execute(
    cursor: psycopg.AsyncCursor, sql: str, params: Any, timeout: float | None
) -> dict[str, Any]:
    if timeout:
        # Enforced by the server, for this transaction only.
        await cursor.execute(
            "SELECT set_config('statement_timeout', %s, true)",
            [f"{max(1, round(float(timeout) * 1000))}ms"],
        )
    await cursor.execute(sql, params)
    return await _result(cursor)


class _Refused(Exception):
    """The SQL ran but its result cannot be reported (too large...): undo its effect."""

    def __init__(self, report: CallReport) -> None:
        self.report = report


async def _run_and_report(
    pool: AsyncConnectionPool,
    sql: str,
    params: Any,
    timeout: float | None,
    ctx: ToolContext[PostgresPools],
) -> Reported:
    """On the orchestrator's own database, run the SQL and report it in ONE transaction.

    The effect and its call.done commit together or not at all, so a worker killed at any
    instant leaves either both or neither (the command then runs again): the effect happens
    exactly once. A worker fenced out of its lease rolls its SQL back with the report.
    """
    async with pool.connection() as conn:
        async with conn.transaction() as whole:
            try:
                async with conn.transaction(), conn.cursor(row_factory=dict_row) as cursor:
                    report = ctx.finish(await _execute(cursor, sql, params, timeout), None)
                    if not report.ok:
                        raise _Refused(report)
            except _Refused as refused:
                report = refused.report
            except psycopg.Error as exc:
                if conn.broken or conn.closed:
                    raise  # the database went away: not the SQL's failure
                report = ctx.finish(None, _tool_error(exc, timeout).as_error())
            await conn.execute("SELECT set_config('statement_timeout', '0', true)")
            assert ctx.queue.orchestrator is not None  # own_database: a worker on SQL
            event_id = await ctx.queue.orchestrator.report_on(
                conn,
                ctx.lease,
                ok=report.ok,
                payload_json=report.payload_json,
                last_error=report.last_error,
            )
            if event_id is None:
                raise psycopg.Rollback(whole)
            return Reported(event_id, report)
        return Reported(None, report)


def _tool_error(exc: psycopg.Error, timeout: float | None) -> ToolError:
    if isinstance(exc, psycopg.errors.QueryCanceled):
        return ToolError(
            ErrorKind.TIMEOUT,
            f"the statement ran past its timeout of {timeout}s",
            sqlstate=exc.sqlstate,
        )
    return _sql_error(exc)


def connection_dsn(connection: str | None, ctx: ToolContext[PostgresPools]) -> str:
    """A DSN as it is, a NAME from `NOETL_CONNECTION_<NAME>`, or the worker's database."""
    if not connection:
        if ctx.settings.dsn is None:
            raise ToolError(
                ErrorKind.CONFIG,
                "this worker reaches the server over HTTP (--gateway) and has no database of"
                " its own: name the step's `connection` (a DSN, or a NAME with"
                f" {CONNECTION_ENV_PREFIX}NAME in the worker's environment)",
            )
        return ctx.settings.dsn
    if "=" in connection or "://" in connection:
        return connection
    env = ctx.settings.env
    for name in (connection, connection.upper()):
        value = env.get(CONNECTION_ENV_PREFIX + name)
        if value:
            return value
    raise ToolError(
        ErrorKind.CONFIG,
        f"connection {connection!r} is not defined: set {CONNECTION_ENV_PREFIX}"
        f"{connection.upper()} in the worker's environment",
    )


async def _result(cursor: psycopg.AsyncCursor) -> dict[str, Any]:
    # After several statements the cursor is on the first result; answer with the last
    # one that returned rows, or the last one if none did.
    chosen: dict[str, Any] | None = None
    row_count = cursor.rowcount
    while True:
        row_count = cursor.rowcount
        if cursor.description is not None:
            rows = await cursor.fetchall()
            chosen = {
                "rows": [{k: json_safe(v) for k, v in row.items()} for row in rows],
                "row_count": row_count,
                "columns": [column.name for column in cursor.description],
            }
        if not cursor.nextset():
            break
    return chosen or {"rows": [], "row_count": row_count, "columns": []}


def _sql_error(exc: psycopg.Error) -> ToolError:
    diag = exc.diag
    message = diag.message_primary or str(exc).strip()
    details: dict[str, Any] = {"sqlstate": exc.sqlstate}
    if diag.message_detail:
        details["detail"] = diag.message_detail
    if diag.message_hint:
        details["hint"] = diag.message_hint
    if diag.statement_position:
        details["position"] = int(diag.statement_position)
    return ToolError(ErrorKind.SQL, message, **details)


def json_safe(value: Any) -> Any:
    """A database value as something JSON (and jsonb) can hold."""
    if value is None or isinstance(value, bool | int | str):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else str(value)
    if isinstance(value, Decimal):
        return _decimal(value)
    if isinstance(value, dt.datetime | dt.date | dt.time):
        return value.isoformat()
    if isinstance(value, dt.timedelta):
        return value.total_seconds()
    if isinstance(value, bytes | bytearray | memoryview):
        return base64.b64encode(bytes(value)).decode("ascii")
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, Mapping):
        return {str(k): json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set):
        return [json_safe(v) for v in value]
    return str(value)


def _decimal(value: Decimal) -> float | int | str:
    if not value.is_finite():
        return str(value)
    if value == value.to_integral_value() and abs(value) < 2**53:
        return int(value)
    as_float = float(value)
    # A float only where it says the same number; otherwise the exact text.
    return as_float if Decimal(repr(as_float)) == value else str(value)


class PostgresPools:
    """Small connection pools, one per DSN, opened on first use, closed with the worker."""

    def __init__(self, max_size: int = 4) -> None:
        self.max_size = max_size
        self._pools: dict[str, AsyncConnectionPool] = {}
        self._lock = asyncio.Lock()

    async def pool(self, dsn: str, *, probe: bool = True) -> AsyncConnectionPool:
        """The pool of `dsn`; a new DSN is probed first so a bad one fails with the
        server's reason (the worker's own database needs no probe)."""
        pool = self._pools.get(dsn)
        if pool is not None:
            return pool
        async with self._lock:
            if dsn not in self._pools:
                if probe:
                    await _probe(dsn)
                pool = AsyncConnectionPool(
                    dsn,
                    min_size=1,
                    max_size=self.max_size,
                    kwargs={"application_name": "noetl-worker-tool", **KEEPALIVE},
                    check=AsyncConnectionPool.check_connection,
                    timeout=POOL_TIMEOUT,
                    open=False,
                    name="noetl-worker-tool",
                )
                await pool.open()
                self._pools[dsn] = pool
            return self._pools[dsn]

    async def close(self) -> None:
        pools, self._pools = list(self._pools.values()), {}
        for pool in pools:
            await pool.close()

    async def __aenter__(self) -> PostgresPools:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()


def open_pools(settings: WorkerSettings) -> PostgresPools:
    return PostgresPools(max_size=min(settings.concurrency, 4))


KIND = ToolKind(config=PostgresConfig, run=run, resources=open_pools)


async def _probe(dsn: str) -> None:
    """Connect once, so a bad DSN fails now with the server's reason, not a pool timeout."""
    try:
        conn = await psycopg.AsyncConnection.connect(dsn, connect_timeout=10)
    except psycopg.Error as exc:
        raise ToolError(ErrorKind.CONNECTION, f"cannot connect: {str(exc).strip()}") from None
    await conn.close()
