"""The worker's side of `noetl.queue`: the only worker code that talks SQL.

Every method is one statement (one round trip) from `queries/queue.sql`. Every write on
a lease is fenced on its (queue_id, worker_id, attempt), so a worker that lost its lease
changes nothing.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from datetime import datetime
from typing import Any

from psycopg import AsyncConnection
from psycopg.rows import dict_row
from psycopg_pool import AsyncConnectionPool

from noetl_pg.protocol import CommandStatus, Lease
from noetl_pg.protocol.lease import ChildStart
from noetl_pg.store.queries import query
from noetl_pg.store.waits import park_wait


class CommandQueue:
    """Lease, heartbeat, report and release commands for one worker."""

    def __init__(self, pool: AsyncConnectionPool, worker_id: str) -> None:
        self.pool = pool
        self.worker_id = worker_id

    async def lease_commands(self, n: int, lease_seconds: float) -> list[dict[str, Any]]:
        """Lease up to `n` ready commands; the rows as leased (see `lease_of`)."""
        if n <= 0:
            return []
        params = {"n": n, "worker_id": self.worker_id, "lease_seconds": lease_seconds}
        async with self.pool.connection() as conn:
            cursor = await conn.execute(query("lease_commands"), params)  # one statement
            rows = await cursor.fetchall()
            limited = [r for r in rows if r["step_limit"] is not None]
            if limited:  # step `concurrency`: give back what went past a step's limit
                given_back = await _enforce_step_limits(conn, limited)
                rows = [r for r in rows if r["queue_id"] not in given_back]
        return sorted(rows, key=lambda r: (-(r["priority"] or 0), r["created_at"], r["queue_id"]))

    @staticmethod
    def lease_of(row: dict[str, Any]) -> Lease:
        """The lease a row from `lease_commands` stands for."""
        return Lease(row["queue_id"], row["assigned_worker_id"], row["attempt"])

    async def next_available_delay(self) -> float | None:
        """Seconds until the earliest pending command is available; None if none pending."""
        async with self.pool.connection() as conn:
            cursor = await conn.execute(query("next_available_delay"))
            row = await cursor.fetchone()
        return None if row is None else row["delay"]

    async def heartbeat(self, leases: Iterable[Lease], lease_seconds: float) -> set[int]:
        """Extend the given leases; the queue_ids still held (the others were lost)."""
        return await self._fenced_many("heartbeat_leases", leases, lease_seconds=lease_seconds)

    async def release(self, leases: Iterable[Lease]) -> set[int]:
        """Make the given leases pending again (same attempt); the queue_ids released."""
        return await self._fenced_many("release_leases", leases)

    async def report(
        self,
        lease: Lease,
        *,
        ok: bool,
        payload_json: str,
        last_error: str | None = None,
    ) -> int | None:
        """Finish the command and append its call.done; the event_id, or None when the
        lease was lost (then nothing was recorded)."""
        async with self.pool.connection() as conn:
            return await self.report_on(
                conn, lease, ok=ok, payload_json=payload_json, last_error=last_error
            )

    async def report_on(
        self,
        conn: AsyncConnection,
        lease: Lease,
        *,
        ok: bool,
        payload_json: str,
        last_error: str | None = None,
    ) -> int | None:
        """`report`, on the caller's connection and inside its transaction: a tool whose
        effect lives in this database commits the effect and its report together."""
        row = await self.report_row(
            conn, lease, ok=ok, payload_json=payload_json, last_error=last_error
        )
        return None if row is None else row["event_id"]

    async def report_row(
        self,
        conn: AsyncConnection,
        lease: Lease,
        *,
        ok: bool,
        payload_json: str,
        last_error: str | None = None,
    ) -> dict[str, Any] | None:
        """`report_on`, giving back the call.done's event_id and execution_id."""
        params = {
            **_fence(lease),
            "queue_status": CommandStatus.of_outcome(ok),
            "last_error": last_error,
            "payload": payload_json,
        }
        async with conn.cursor(row_factory=dict_row) as cursor:
            await cursor.execute(query("report_command"), params)
            return await cursor.fetchone()

    async def start_child_playbook(
        self, lease: Lease, child_execution_id: str, payload: dict[str, Any]
    ) -> ChildStart:
        """Park the command as 'waiting' and start its child execution, unless the child
        was already started (a retried lease) or the lease was lost (nothing changed)."""
        params = {
            **_fence(lease),
            "child_execution_id": child_execution_id,
            "payload": json.dumps(payload),
        }
        async with self.pool.connection() as conn:
            cursor = await conn.execute(query("start_child_playbook"), params)
            row = await cursor.fetchone()
        if row is None:
            return ChildStart(held=False, event_id=None)
        return ChildStart(held=True, event_id=row["event_id"])

    async def park_wait(
        self, lease: Lease, *, signal: str | None, after: float | None, until: datetime | None
    ) -> bool:
        """Park the command as 'waiting' on a timer or a signal (the wait tool); False if
        the lease was lost or it was parked already."""
        async with self.pool.connection() as conn:
            return await park_wait(conn, lease, signal=signal, after=after, until=until)

    async def _fenced_many(self, name: str, leases: Iterable[Lease], **extra: Any) -> set[int]:
        leases = list(leases)
        if not leases:
            return set()
        params = {
            "queue_ids": [lease.queue_id for lease in leases],
            "worker_ids": [lease.worker_id for lease in leases],
            "attempts": [lease.attempt for lease in leases],
            **extra,
        }
        async with self.pool.connection() as conn:
            cursor = await conn.execute(query(name), params)
            rows = await cursor.fetchall()
        return {row["queue_id"] for row in rows}


async def _enforce_step_limits(conn: AsyncConnection, leased: list[dict[str, Any]]) -> set[int]:
    """Under the limited steps' locks, with a snapshot taken after them (so every other
    worker's committed lease counts), give back the leases past a step's limit. Only a
    lease of a limited step pays for this transaction; every other lease is one statement."""
    keys = sorted({row["step_key"] for row in leased})
    async with conn.transaction():
        await conn.execute(query("lock_step_keys"), {"keys": keys})
        cursor = await conn.execute(
            query("enforce_step_limits"), {"queue_ids": [row["queue_id"] for row in leased]}
        )
        return {row["queue_id"] for row in await cursor.fetchall()}


def _fence(lease: Lease) -> dict[str, Any]:
    return {"queue_id": lease.queue_id, "worker_id": lease.worker_id, "attempt": lease.attempt}
