"""Whether the database answers with the noetl schema applied (the gateway's health)."""

from __future__ import annotations

from noetl_pg.store.access import DataAccess


class DatabaseHealth(DataAccess):
    async def schema_ready(self) -> bool:
        return bool(await self._fetch_value("database_health", "schema_ready", {}))
