"""The CLI's way to PostgreSQL: register, start, cancel and read executions with SQL.

Every method has a twin in `GatewayClient` (the same thing over HTTP), so a command can
work on either without knowing which. The SQL is the store's named queries; a client
event goes in exactly as the gateway would insert it.
"""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import psycopg
import psycopg.errors
from psycopg import AsyncConnection

from noetl_pg.store import catalog
from noetl_pg.store import events as event_store
from noetl_pg.store.db import connect, connect_async
from noetl_pg.store.executions import fetch_state_async, list_executions
from noetl_pg.store.queries import query

FINISHED = ("completed", "failed", "cancelled")


class ClientError(Exception):
    """A request the orchestrator refused; the message says what and which."""


def new_execution_id() -> str:
    """Like the table's default: 'exec-' and 32 hex digits."""
    return "exec-" + uuid.uuid4().hex


class DatabaseClient:
    def __init__(self, dsn: str) -> None:
        self.dsn = dsn
        self._conn: AsyncConnection | None = None

    async def __aenter__(self) -> DatabaseClient:
        self._conn = await connect_async(self.dsn, autocommit=True, application_name="noetl-cli")
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        if self._conn is not None:
            await self._conn.close()

    @property
    def conn(self) -> AsyncConnection:
        assert self._conn is not None, "use `async with DatabaseClient(dsn)`"
        return self._conn

    async def register(self, text: str, source: str) -> catalog.Registered:
        """Store a playbook version (raises `PlaybookError` when it is not valid)."""

        def register() -> catalog.Registered:
            with connect(self.dsn, application_name="noetl-cli") as conn:
                return catalog.register_playbook(conn, text, source=source)

        return await asyncio.to_thread(register)

    async def start(
        self,
        path: str,
        version: int | None,
        workload: dict[str, Any],
        execution_id: str | None = None,
    ) -> str:
        """Insert a `workflow.start`; the execution id."""
        execution_id = execution_id or new_execution_id()
        payload: dict[str, Any] = {"path": path, "workload": workload}
        if version is not None:
            payload["version"] = version
        async with self.conn.transaction():
            if not await event_store.playbook_exists(self.conn, path, version):
                which = f"{path!r}" + (f" version {version}" if version else "")
                raise ClientError(f"no playbook {which} is registered")
            await event_store.lock_execution_id(self.conn, execution_id)
            if await event_store.execution_started(self.conn, execution_id):
                raise ClientError(f"execution {execution_id!r} was already started")
            await event_store.insert_client_event(
                self.conn,
                execution_id=execution_id,
                name="workflow.start",
                step=None,
                payload=payload,
            )
        return execution_id

    async def cancel(self, execution_id: str, reason: str | None = None) -> None:
        """Insert a `workflow.cancel` for a running execution."""
        async with self.conn.transaction():
            await event_store.lock_execution_id(self.conn, execution_id)
            state = await fetch_state_async(self.conn, execution_id)
            if state is None:
                raise ClientError(f"no execution {execution_id!r}")
            if state["status"] in FINISHED:
                raise ClientError(f"execution {execution_id!r} is already {state['status']}")
            await event_store.insert_client_event(
                self.conn,
                execution_id=execution_id,
                name="workflow.cancel",
                step=None,
                payload={"reason": reason} if reason else {},
            )

    async def state(self, execution_id: str) -> dict[str, Any] | None:
        """The keys of `GET /api/v2/executions/{id}`, or None."""
        from noetl_pg.state import ExecutionState

        row = await fetch_state_async(self.conn, execution_id)
        return ExecutionState.from_row(row).to_dict() if row else None

    async def summary(self, execution_id: str) -> dict[str, Any] | None:
        """The execution row with timings and command counts (None before it exists)."""
        cursor = await self.conn.execute(
            query("cli_execution_summary"), {"execution_id": execution_id}
        )
        return await cursor.fetchone()

    async def events(self, execution_id: str, after: int = 0, limit: int = 1000) -> list[dict]:
        """Events after `after`, in order: event_id, name, step, status, payload, created_at..."""
        return await event_store.list_execution_events(
            self.conn, execution_id, after=after, limit=limit
        )

    async def executions(self, status: str | None, limit: int) -> list[dict[str, Any]]:
        return await list_executions(self.conn, status=status, path=None, limit=limit, after=None)


def database_dsn() -> str:
    """The DSN the commands use: `NOETL_DSN`, else the embedded server, migrated on first
    use so that `noetl-pg ps` works on a new machine. A configured database is never
    migrated behind its owner's back: that is `noetl-pg db upgrade`."""
    import os

    from noetl_pg.store.config import resolve_dsn
    from noetl_pg.store.migrations import upgrade

    dsn = resolve_dsn()
    if not os.environ.get("NOETL_DSN"):
        upgrade(dsn)
    return dsn


def explain_database_error(exc: psycopg.Error) -> str:
    """A database error as one line, with the fix for the common case of no schema."""
    if isinstance(exc, psycopg.errors.UndefinedTable):
        return f"{exc.diag.message_primary}: the schema is not applied; run `noetl-pg db upgrade`"
    return f"database error: {exc.diag.message_primary or exc}"
