"""The CLI's way to PostgreSQL: register, start, cancel and read executions.

Every method has a twin in `GatewayClient` (the same thing over HTTP), so a command can
work on either without knowing which. One async connection per command; the writes are
the store's (`store/control.py`, the same code the gateway calls), so a refusal is the
same `StoreError` the gateway answers with an HTTP error.
"""

from __future__ import annotations

import os
from typing import Any

import psycopg
import psycopg.errors
from psycopg import AsyncConnection

from noetl_pg.cli.gatewayclient import GatewayError
from noetl_pg.protocol import ExecutionStatus
from noetl_pg.state import ExecutionView
from noetl_pg.store.catalog import PlaybookCatalog, Registered
from noetl_pg.store.config import resolve_dsn
from noetl_pg.store.control import ClientEvents
from noetl_pg.store.db import connect_async
from noetl_pg.store.errors import StoreError
from noetl_pg.store.executions import ExecutionReader
from noetl_pg.store.migrations import upgrade

# What either client raises when the orchestrator refuses a request (exit status 1).
REFUSALS = (StoreError, GatewayError)


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

    async def register(self, text: str, source: str) -> Registered:
        """Store a playbook version (raises `PlaybookError` when it is not valid)."""
        # here, not at import: every noetl-pg call loads this module, few parse playbooks
        from noetl_pg.registration import register_playbook

        return await register_playbook(self.conn, text, source=source)

    async def start(
        self,
        path: str,
        version: int | None,
        workload: dict[str, Any],
        execution_id: str | None = None,
    ) -> str:
        """Append a `workflow.start`; the execution id."""
        accepted = await ClientEvents(self.conn).start_execution(
            path, version=version, workload=workload, execution_id=execution_id
        )
        return accepted.execution_id

    async def cancel(self, execution_id: str, reason: str | None = None) -> None:
        """Append a `workflow.cancel` for an execution that has not finished."""
        await ClientEvents(self.conn).cancel_execution(execution_id, reason)

    async def state(self, execution_id: str) -> dict[str, Any] | None:
        """The keys of `GET /api/v2/executions/{id}`, or None."""
        row = await ExecutionReader(self.conn).state_of(execution_id)
        return ExecutionView.from_row(row).to_dict() if row else None

    async def summary(self, execution_id: str) -> dict[str, Any] | None:
        """The execution row with timings and command counts (None before it exists)."""
        return await ExecutionReader(self.conn).summary_of(execution_id)

    async def events(self, execution_id: str, after: int = 0, limit: int = 1000) -> list[dict]:
        """Events after `after`, in order: event_id, name, step, status, payload, created_at..."""
        return await ExecutionReader(self.conn).events_of(execution_id, after=after, limit=limit)

    async def executions(
        self, status: ExecutionStatus | None, limit: int, path: str | None = None
    ) -> list[dict[str, Any]]:
        return await ExecutionReader(self.conn).executions(status=status, path=path, limit=limit)

    async def playbooks(self) -> list[dict[str, Any]]:
        """The latest version of every registered path."""
        return await PlaybookCatalog(self.conn).latest_playbooks()

    async def playbook(self, path: str, version: int | None) -> dict[str, Any] | None:
        """One version (the latest when `version` is None) with its YAML text, or None."""
        return await PlaybookCatalog(self.conn).playbook(path, version)


def database_dsn() -> str:
    """The DSN the commands use: `NOETL_DSN`, else the embedded server, migrated on first
    use so that `noetl-pg ps` works on a new machine. A configured database is never
    migrated behind its owner's back: that is `noetl-pg db upgrade`."""
    dsn = resolve_dsn()
    if not os.environ.get("NOETL_DSN"):
        upgrade(dsn)
    return dsn


def explain_database_error(exc: psycopg.Error) -> str:
    """A database error as one line, with the fix for the common case of no schema."""
    if isinstance(exc, psycopg.errors.UndefinedTable):
        return f"{exc.diag.message_primary}: the schema is not applied; run `noetl-pg db upgrade`"
    return f"database error: {exc.diag.message_primary or exc}"
