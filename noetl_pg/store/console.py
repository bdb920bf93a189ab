"""Reads the console and the metrics endpoint need beyond `ExecutionReader`: counts per
status, workers seen, playbook versions, and the recent activity the gauges show."""

from __future__ import annotations

from noetl_pg.store.access import DataAccess, Row


class ConsoleReader(DataAccess):
    async def executions_per_status(self) -> dict[str, int]:
        rows = await self._fetch_all("executions_per_status")
        return {row["status"]: row["executions"] for row in rows}

    async def workload_of(self, execution_id: str) -> Row | None:
        return await self._fetch_one("execution_workload", {"execution_id": execution_id})

    async def children_of(self, execution_id: str) -> list[Row]:
        return await self._fetch_all("child_executions", {"execution_id": execution_id})

    async def workers_seen(self) -> list[Row]:
        return await self._fetch_all("workers_seen")

    async def playbook_versions(self) -> list[Row]:
        return await self._fetch_all("playbook_versions")

    async def newest_unapplied_event(self) -> Row | None:
        return await self._fetch_one("newest_unapplied_event")

    async def recent_activity(self) -> Row:
        row = await self._fetch_one("recent_activity")
        assert row is not None, "recent_activity always returns one row"
        return row
