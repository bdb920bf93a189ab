"""The one shape of data access: a class wrapping an `AsyncConnection` that runs named
queries (`store/queries/*.sql`). Every store class below builds on it; its methods read
like sentences and hide which query answers them."""

from __future__ import annotations

from typing import Any

from psycopg import AsyncConnection

from noetl_pg.store.queries import query

Row = dict[str, Any]


class DataAccess:
    def __init__(self, conn: AsyncConnection) -> None:
        self.conn = conn

    async def _execute(self, name: str, params: dict[str, Any] | None = None) -> None:
        await self.conn.execute(query(name), params or {})

    async def _fetch_one(self, name: str, params: dict[str, Any] | None = None) -> Row | None:
        cursor = await self.conn.execute(query(name), params or {})
        return await cursor.fetchone()

    async def _fetch_all(self, name: str, params: dict[str, Any] | None = None) -> list[Row]:
        cursor = await self.conn.execute(query(name), params or {})
        return await cursor.fetchall()

    async def _fetch_value(self, name: str, column: str, params: dict[str, Any]) -> Any:
        """One column of the one row a query always returns (`SELECT EXISTS ...`)."""
        row = await self._fetch_one(name, params)
        assert row is not None, f"query {name!r} returned no row"
        return row[column]
