"""The engine's data access: claim events, load state, write what applying produced."""

from __future__ import annotations

from typing import Any

from psycopg import AsyncConnection
from psycopg.types.json import Jsonb

from noetl_pg.protocol import CommandStatus
from noetl_pg.store.queries import query


class EngineStore:
    def __init__(self, conn: AsyncConnection, engine_id: str) -> None:
        self.conn = conn
        self.engine_id = engine_id

    async def claim_executions(self, batch: int, scan: int) -> list[str]:
        cur = await self.conn.execute(query("claim_executions"), {"batch": batch, "scan": scan})
        return [row["execution_id"] for row in await cur.fetchall()]

    async def lock_execution(self, execution_id: str) -> bool:
        cur = await self.conn.execute(query("lock_execution"), {"execution_id": execution_id})
        return bool((await cur.fetchone())["locked"])

    async def load_batch(
        self, ids: list[str], limit: int
    ) -> tuple[list[dict[str, Any]], dict[str, dict[str, Any]]]:
        """The claimed executions' waiting events and their state, in one round trip."""
        async with self.conn.pipeline():
            events = await self.conn.execute(
                query("load_unprocessed_events"), {"ids": ids, "limit": limit}
            )
            states = await self.conn.execute(query("load_executions"), {"ids": ids})
            rows = await events.fetchall()
            executions = {row["execution_id"]: row for row in await states.fetchall()}
        return rows, executions

    async def load_events(self, ids: list[str], limit: int) -> list[dict[str, Any]]:
        cur = await self.conn.execute(
            query("load_unprocessed_events"), {"ids": ids, "limit": limit}
        )
        return await cur.fetchall()

    async def latest_versions(self, paths: list[str]) -> dict[str, int]:
        if not paths:
            return {}
        cur = await self.conn.execute(query("latest_playbook_versions"), {"paths": paths})
        return {row["path"]: row["version"] for row in await cur.fetchall()}

    async def playbook_row(self, path: str, version: int | None) -> dict[str, Any] | None:
        cur = await self.conn.execute(
            query("get_playbook_version"), {"path": path, "version": version}
        )
        return await cur.fetchone()

    async def insert_commands(self, rows: list[dict[str, Any]]) -> None:
        if rows:
            await self.conn.execute(query("insert_commands"), {"rows": Jsonb(rows)})

    async def insert_events(self, rows: list[dict[str, Any]]) -> None:
        if rows:
            await self.conn.execute(
                query("insert_engine_events"), {"rows": Jsonb(rows), "engine": self.engine_id}
            )

    async def save_executions(self, rows: list[dict[str, Any]]) -> None:
        if rows:
            await self.conn.execute(query("save_executions"), {"rows": Jsonb(rows)})

    async def mark_processed(self, rows: list[dict[str, Any]]) -> None:
        if rows:
            await self.conn.execute(
                query("mark_events_processed"), {"rows": Jsonb(rows), "engine": self.engine_id}
            )

    async def cancel_pending(self, ids: list[str]) -> None:
        """Stopped executions: no more commands, and their sub-playbooks are cancelled."""
        if ids:
            await self.conn.execute(query("cancel_pending_commands"), {"ids": ids})
            await self.conn.execute(query("cancel_children"), {"ids": ids})

    async def report_to_parent(self, queue_id: int, ok: bool, payload: dict[str, Any]) -> None:
        await self.conn.execute(
            query("report_to_parent"),
            {
                "queue_id": queue_id,
                "queue_status": CommandStatus.of_outcome(ok),
                "ok": ok,
                "payload": Jsonb(payload),
            },
        )
