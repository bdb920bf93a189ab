"""Reading executions: the state users see, the list of runs, an execution's event log
and commands, and the depth of the queue."""

from __future__ import annotations

from datetime import datetime

from noetl_pg.protocol import ExecutionStatus
from noetl_pg.store.access import DataAccess, Row


class ExecutionReader(DataAccess):
    async def state_of(self, execution_id: str) -> Row | None:
        """The user-visible state of one execution (see `get_execution_state`): before an
        engine applied its start it reads as pending (or failed, when refused); None when
        there is no such execution."""
        return await self._fetch_one("get_execution_state", {"execution_id": execution_id})

    async def summary_of(self, execution_id: str) -> Row | None:
        """The execution row with its timings and command counts (None before it exists)."""
        return await self._fetch_one("execution_summary", {"execution_id": execution_id})

    async def executions(
        self,
        *,
        status: ExecutionStatus | None = None,
        path: str | None = None,
        limit: int,
        after: tuple[datetime, str] | None = None,
    ) -> list[Row]:
        """Executions newest first; `after` is the (created_at, execution_id) of the last
        one of the previous page."""
        return await self._fetch_all(
            "list_executions",
            {
                "status": status,
                "path": path,
                "limit": limit,
                "after_created_at": after[0] if after else None,
                "after_execution_id": after[1] if after else None,
            },
        )

    async def events_of(self, execution_id: str, *, after: int = 0, limit: int) -> list[Row]:
        """The execution's events after `after`, in the order they are applied."""
        return await self._fetch_all(
            "list_execution_events", {"execution_id": execution_id, "after": after, "limit": limit}
        )

    async def commands_of(self, execution_id: str) -> list[Row]:
        """One execution's rows of `noetl.queue`, oldest first."""
        return await self._fetch_all("list_execution_commands", {"execution_id": execution_id})

    async def queue_depth(self) -> list[Row]:
        """Commands per status with the age of the oldest, for monitoring."""
        return await self._fetch_all("queue_depth")
