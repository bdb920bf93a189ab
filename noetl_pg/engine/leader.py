"""The maintenance leader: one engine at a time (a session advisory lock) re-claims expired
leases, creates the coming weeks' event partitions ahead of need, and removes history past
its retention, whole weeks of events by dropping their partition (docs/operating.md).
(Deadlines, waits and schedules are rows every engine scans with SKIP LOCKED:
`engine/maintenance.py`.)

Leadership is a session advisory lock on a connection of its own: when the leader's
process dies its connection ends, the lock is free, and the next engine to try takes
over. Every pass is a few bounded statements, so a pass never holds locks for long.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from dataclasses import dataclass, field

import psycopg

from noetl_pg import daemon_metrics as metrics
from noetl_pg.protocol.retention import deployment_retention
from noetl_pg.store.db import connect_async
from noetl_pg.store.queries import query

log = logging.getLogger("noetl_pg.maintenance")

BATCH = 500  # executions removed per statement
MAX_BATCHES = 20  # per pass: the rest waits for the next pass
RECHECK_KEPT = 600.0  # seconds before a week found kept is read again


@dataclass
class PassReport:
    """What one pass did."""

    leases_retried: int = 0
    leases_failed: int = 0
    executions_removed: int = 0
    events_removed: int = 0
    commands_removed: int = 0
    partitions_created: int = 0
    partitions_dropped: list[str] = field(default_factory=list)
    partition_events_dropped: int = 0
    partitions_kept: list[str] = field(default_factory=list)

    def lines(self) -> list[str]:
        dropped = ", ".join(self.partitions_dropped) or "none"
        kept = f"; kept past retention: {', '.join(self.partitions_kept)}"
        return [
            f"expired leases: {self.leases_retried} retried, {self.leases_failed} failed",
            f"event partitions: {self.partitions_created} created ahead, "
            f"dropped {dropped} ({self.partition_events_dropped} events)"
            + (kept if self.partitions_kept else ""),
            f"removed past retention: {self.executions_removed} executions, "
            f"{self.events_removed} events, {self.commands_removed} commands",
        ]


async def run_pass(
    conn: psycopg.AsyncConnection,
    *,
    retention: str | None = None,
    batch: int = BATCH,
    kept: dict[str, float] | None = None,
) -> PassReport:
    """One pass on an autocommit connection: each statement is its own transaction.
    `kept`: when each week found kept may be checked again (the leader's memory, so a
    week a long-lived execution holds is not read again every pass)."""
    report = PassReport()
    row = await (await conn.execute(query("reclaim_expired_leases"))).fetchone()
    report.leases_retried, report.leases_failed = row["retried"], row["failed"]
    params = {"retention": retention or deployment_retention(), "batch": batch}
    await _partitions(conn, params["retention"], report, {} if kept is None else kept)
    for _ in range(MAX_BATCHES):
        row = await (await conn.execute(query("remove_expired_executions"), params)).fetchone()
        report.executions_removed += row["executions"]
        report.events_removed += row["events"]
        report.commands_removed += row["commands"]
        if row["executions"] < batch:
            break
    return report


async def _partitions(
    conn: psycopg.AsyncConnection, retention: str, report: PassReport, kept: dict[str, float]
) -> None:
    """Weeks ahead created; weeks wholly past retention dropped (a week holding a row that
    must stay is kept, and its expired rows go with the batches)."""
    row = await (await conn.execute(query("ensure_event_partitions"))).fetchone()
    report.partitions_created = row["created"]
    expired = await conn.execute(query("expired_event_partitions"), {"retention": retention})
    for name in [r["name"] for r in await expired.fetchall()]:
        if kept.get(name, 0.0) > time.monotonic():
            report.partitions_kept.append(name)
            continue
        params = {"name": name, "retention": retention}
        row = await (await conn.execute(query("drop_expired_event_partition"), params)).fetchone()
        if row["dropped"] is None:
            kept[name] = time.monotonic() + RECHECK_KEPT
            report.partitions_kept.append(name)
        else:
            report.partitions_dropped.append(name)
            report.partition_events_dropped += row["dropped"]


class MaintenanceLeader:
    """Runs passes every `interval` seconds while this process holds the leadership."""

    def __init__(self, dsn: str, name: str, *, interval: float = 5.0) -> None:
        self.dsn = dsn
        self.name = name
        self.interval = interval
        self.leading = asyncio.Event()
        self.kept: dict[str, float] = {}

    async def run(self, stopping: asyncio.Event) -> None:
        while not stopping.is_set():
            try:
                async with await connect_async(
                    self.dsn, autocommit=True, application_name=f"{self.name}-maintenance"
                ) as conn:
                    await self._lead(conn, stopping)
            except (psycopg.OperationalError, psycopg.InterfaceError) as exc:
                log.warning("maintenance: database unavailable (%s)", exc)
            self.leading.clear()
            await _wait(stopping, self.interval)

    async def _lead(self, conn: psycopg.AsyncConnection, stopping: asyncio.Event) -> None:
        while not stopping.is_set():
            if not self.leading.is_set():
                row = await (await conn.execute(query("try_maintenance_lead"))).fetchone()
                if row["leader"]:
                    log.info("%s is the maintenance leader", self.name)
                    self.leading.set()
            if self.leading.is_set():
                report = await run_pass(conn, kept=self.kept)
                metrics.RECLAIMS.labels("retried").inc(report.leases_retried)
                metrics.RECLAIMS.labels("failed").inc(report.leases_failed)
                if (
                    report.leases_retried
                    or report.leases_failed
                    or report.executions_removed
                    or report.partitions_created
                    or report.partitions_dropped
                ):
                    log.info("maintenance: %s", "; ".join(report.lines()))
            await _wait(stopping, self.interval)


async def _wait(stopping: asyncio.Event, seconds: float) -> None:
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(stopping.wait(), seconds)
