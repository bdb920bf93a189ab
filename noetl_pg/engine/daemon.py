"""`noetl-engine`: claims unprocessed events and applies them, one transaction per batch.

It wakes on NOTIFY `noetl_event`, and also scans on start, on reconnect and on a slow
safety timer, so an event inserted by any means is applied even if its notification was
lost. A batch holds several executions; each execution's events are applied in order
under an advisory lock, so any number of engines can run side by side.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import socket
import sys
from dataclasses import dataclass, field
from typing import Any

import psycopg

from noetl_pg.dsl import Playbook, PlaybookError, parse_playbook
from noetl_pg.engine.core import apply_event
from noetl_pg.engine.outcome import InputEvent, Outcome
from noetl_pg.engine.state import TERMINAL, ExecutionState
from noetl_pg.signals import run_until_stopped
from noetl_pg.store.config import resolve_dsn
from noetl_pg.store.db import async_pool
from noetl_pg.store.engine_store import EngineStore
from noetl_pg.store.notifier import Notifier

log = logging.getLogger("noetl_pg.engine")


@dataclass
class _Batch:
    """What one transaction writes."""

    commands: list[dict[str, Any]] = field(default_factory=list)
    events: list[dict[str, Any]] = field(default_factory=list)
    marks: list[dict[str, Any]] = field(default_factory=list)
    cancelled: list[str] = field(default_factory=list)
    parent_reports: list[Any] = field(default_factory=list)
    states: dict[str, ExecutionState] = field(default_factory=dict)
    applied: dict[str, int] = field(default_factory=dict)
    last_event: dict[str, int] = field(default_factory=dict)


class Engine:
    def __init__(
        self,
        dsn: str,
        *,
        engine_id: str | None = None,
        batch_executions: int = 64,
        batch_events: int = 1000,
        safety_interval: float = 2.0,
    ) -> None:
        self.dsn = dsn
        self.engine_id = engine_id or f"engine-{socket.gethostname()}-{os.getpid()}"
        self.batch_executions = batch_executions
        self.batch_events = batch_events
        self.safety_interval = safety_interval
        self.notifier = Notifier(dsn, "noetl_event", name=self.engine_id)
        self._stopping = asyncio.Event()
        self._playbooks: dict[tuple[str, int], Playbook] = {}
        self._full = False

    def stop(self) -> None:
        self._stopping.set()
        self.notifier.wake()

    async def run(self) -> None:
        pool = async_pool(
            self.dsn,
            min_size=1,
            max_size=2,
            name=self.engine_id,
            check=False,  # a dead connection fails the batch, which run() retries
        )
        await pool.open(wait=False)
        self.notifier.start()
        log.info("engine %s started", self.engine_id)
        backoff = 0.1
        try:
            while not self._stopping.is_set():
                try:
                    while not self._stopping.is_set() and await self._process_batch(pool):
                        if not self._full:
                            break  # a partial batch took all there was; NOTIFY wakes us
                    backoff = 0.1
                except (psycopg.OperationalError, psycopg.InterfaceError) as exc:
                    log.warning("database unavailable (%s); retrying in %.1fs", exc, backoff)
                    await asyncio.sleep(backoff)
                    backoff = min(backoff * 2, 5.0)
                    continue
                if not self._stopping.is_set():
                    await self.notifier.wait(self.safety_interval)
        finally:
            await self.notifier.stop()
            await pool.close()
            log.info("engine %s stopped", self.engine_id)

    async def run_until_idle(self) -> int:
        """Apply everything that is waiting, then return (used by `noetl-pg run` and tests)."""
        pool = async_pool(self.dsn, min_size=1, max_size=1, name=self.engine_id)
        await pool.open()
        try:
            total = 0
            while count := await self._process_batch(pool):
                total += count
            return total
        finally:
            await pool.close()

    async def _process_batch(self, pool) -> int:
        """Claim and apply one batch; the number of events applied (0: nothing waiting)."""
        async with pool.connection() as conn:
            try:
                async with conn.transaction():
                    return await self._apply_claimed(EngineStore(conn, self.engine_id), None)
            except psycopg.DatabaseError as exc:
                if isinstance(exc, psycopg.OperationalError):
                    raise
                log.error("batch failed (%s); applying executions one by one", exc)
        # A write failed for some execution in the batch: isolate it.
        async with pool.connection() as conn, conn.transaction():
            store = EngineStore(conn, self.engine_id)
            ids = await store.claim_executions(batch=self.batch_executions, scan=1000)
        total = 0
        for execution_id in ids:
            total += await self._apply_one(pool, execution_id)
        return total

    async def _apply_one(self, pool, execution_id: str) -> int:
        async with pool.connection() as conn:
            try:
                async with conn.transaction():
                    return await self._apply_claimed(
                        EngineStore(conn, self.engine_id), execution_id
                    )
            except psycopg.DatabaseError as exc:
                if isinstance(exc, psycopg.OperationalError):
                    raise
                failure = f"the engine could not store the effects of this event: {exc}"
        async with pool.connection() as conn, conn.transaction():
            return await self._quarantine(EngineStore(conn, self.engine_id), execution_id, failure)

    async def _apply_claimed(self, store: EngineStore, only: str | None) -> int:
        if only is None:
            ids = await store.claim_executions(batch=self.batch_executions, scan=4096)
        else:
            ids = [only] if await store.lock_execution(only) else []
        if not ids:
            return 0
        rows, executions = await store.load_batch(ids, self.batch_events)
        self._full = len(ids) >= self.batch_executions or len(rows) >= self.batch_events
        start_paths = {
            row["payload"]["path"]
            for row in rows
            if row["event_type"] == "workflow.start"
            and isinstance(row["payload"], dict)
            and isinstance(row["payload"].get("path"), str)
        }
        latest = await store.latest_versions(sorted(start_paths))
        batch = _Batch()
        for row in rows:
            await self._apply_row(store, row, executions, latest, batch)
        await self._write(store, batch)
        return len(rows)

    async def _apply_row(
        self,
        store: EngineStore,
        row: dict[str, Any],
        executions: dict[str, dict[str, Any]],
        latest: dict[str, int],
        batch: _Batch,
    ) -> None:
        execution_id = row["execution_id"]
        event = InputEvent(
            event_id=row["event_id"],
            execution_id=execution_id,
            name=row["event_type"],
            step=row["node_name"],
            payload=row["payload"] if isinstance(row["payload"], dict) else {},
            queue_id=row["queue_id"],
        )
        state = batch.states.get(execution_id)
        if state is None and execution_id in executions:
            state = ExecutionState.from_row(executions[execution_id])
        try:
            playbook, version, problem = await self._playbook_for(store, state, event, latest)
            if problem is not None:
                outcome = Outcome(state=state, error=problem)
            else:
                outcome = apply_event(state, event, playbook, version)
        except Exception as exc:  # a bug must not wedge the execution: record it, move on
            log.exception("applying event %s failed", event.event_id)
            outcome = _internal_failure(state, event, exc)
        self._collect(batch, event, outcome)

    async def _playbook_for(
        self,
        store: EngineStore,
        state: ExecutionState | None,
        event: InputEvent,
        latest: dict[str, int],
    ) -> tuple[Playbook | None, int, str | None]:
        if event.name == "workflow.start" and state is None:
            path = event.payload.get("path")
            if not isinstance(path, str) or not path:
                return None, 0, "workflow.start needs `path` in its payload"
            version = event.payload.get("version")
            try:
                version = int(version) if version is not None else None
            except (TypeError, ValueError):
                return None, 0, f"workflow.start `version` must be a number, not {version!r}"
            version = version if version is not None else latest.get(path)
            if version is None:
                return None, 0, None  # not registered: the engine fails the execution clearly
            playbook = await self._playbook(store, path, version)
            return playbook, version, None
        if state is None or not state.path or state.version == 0:
            return None, 0, None
        playbook = await self._playbook(store, state.path, state.version)
        if playbook is None:
            return None, 0, f"playbook {state.path!r} version {state.version} has disappeared"
        return playbook, state.version, None

    async def _playbook(self, store: EngineStore, path: str, version: int) -> Playbook | None:
        """A parsed playbook version; versions never change, so each is parsed once."""
        key = (path, version)
        if key not in self._playbooks:
            row = await store.playbook_row(path, version)
            if row is None:
                return None
            try:
                self._playbooks[key] = parse_playbook(row["yaml"], source=f"{path}@{version}")
            except PlaybookError as exc:
                raise RuntimeError(
                    f"registered playbook {path}@{version} is invalid: {exc}"
                ) from exc
        return self._playbooks[key]

    def _collect(self, batch: _Batch, event: InputEvent, outcome: Outcome) -> None:
        execution_id = event.execution_id
        mark: dict[str, Any] = {
            "event_id": event.event_id,
            "error": outcome.error,
            "diagnostic": outcome.diagnostics or None,
            "commands_generated": len(outcome.commands),
        }
        batch.marks.append(mark)
        state = outcome.state
        if outcome.error is not None or state is None:
            if outcome.error:
                log.info("event %s refused: %s", event.event_id, outcome.error)
            return
        batch.states[execution_id] = state
        batch.applied[execution_id] = batch.applied.get(execution_id, 0) + 1
        batch.last_event[execution_id] = event.event_id
        for command in outcome.commands:
            batch.commands.append(
                {
                    "execution_id": command.execution_id,
                    "step": command.step,
                    "tool_kind": command.tool_kind,
                    "tool_config": command.tool_config,
                    "args": command.args,
                    "context": command.context,
                    "run_key": command.run_key,
                    "max_attempts": command.max_attempts,
                    "priority": command.priority,
                    "delay_seconds": command.delay_seconds,
                    "timeout_seconds": command.timeout_seconds,
                }
            )
        for emitted in outcome.events:
            batch.events.append(
                {
                    "execution_id": execution_id,
                    "event_type": emitted.name,
                    "node_name": emitted.step,
                    "status": emitted.status,
                    "payload": emitted.payload,
                }
            )
        if outcome.cancel_pending:
            batch.cancelled.append(execution_id)
        if outcome.parent_report is not None:
            batch.parent_reports.append(outcome.parent_report)

    async def _write(self, store: EngineStore, batch: _Batch) -> None:
        inserted = await store.insert_commands(batch.commands)
        for row in inserted:
            state = batch.states[row["execution_id"]]
            if row["run_key"] in state.commands:
                state.commands[row["run_key"]]["queue_id"] = row["queue_id"]
        async with store.conn.pipeline():  # nothing below is read back: one round trip
            await store.insert_events(batch.events)
            await store.save_executions(
                [
                    _execution_row(state, batch.applied[eid], batch.last_event[eid])
                    for eid, state in batch.states.items()
                ]
            )
            await store.mark_processed(batch.marks)
            await store.cancel_pending(batch.cancelled)
            for report in batch.parent_reports:
                await store.report_to_parent(report.parent_queue_id, report.ok, report.payload)

    async def _quarantine(self, store: EngineStore, execution_id: str, failure: str) -> int:
        """Mark an execution's waiting events refused and fail it, so nothing loops."""
        rows = await store.load_events([execution_id], self.batch_events)
        await store.mark_processed(
            [
                {
                    "event_id": r["event_id"],
                    "error": failure,
                    "diagnostic": None,
                    "commands_generated": 0,
                }
                for r in rows
            ]
        )
        await store.fail_execution(execution_id, failure)
        await store.cancel_pending([execution_id])
        log.error("execution %s quarantined: %s", execution_id, failure)
        return len(rows)


def _internal_failure(state: ExecutionState | None, event: InputEvent, exc: Exception) -> Outcome:
    message = f"internal engine error applying {event.name}: {type(exc).__name__}: {exc}"
    if state is None or state.status in TERMINAL:
        return Outcome(state=state, error=message)
    state.status = "failed"
    state.error = message
    state.runs.clear()
    state.commands.clear()
    outcome = Outcome(state=state, cancel_pending=True)
    outcome.diagnostics.append({"note": message})
    return outcome


def _execution_row(state: ExecutionState, applied: int, last_event_id: int) -> dict[str, Any]:
    parent = state.parent or {}
    return {
        "execution_id": state.execution_id,
        "path": state.path,
        "version": state.version,
        "status": state.status,
        "workload": state.workload,
        "context": state.ctx,
        "step_results": state.step_results,
        "active_steps": state.active_steps,
        "state": state.internal_json(),
        "result": state.result,
        "error": state.error,
        "parent_execution_id": parent.get("execution_id"),
        "parent_queue_id": parent.get("queue_id"),
        "last_event_id": last_event_id,
        "events_applied": applied,
        "finished": state.status in TERMINAL,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="noetl-engine",
        description="Apply noetl-pg events: case rules, transitions, commands (reads NOETL_DSN).",
    )
    parser.add_argument("--engine-id", default=None)
    parser.add_argument("--batch", type=int, default=64, help="executions per transaction")
    parser.add_argument(
        "--safety-interval",
        type=float,
        default=float(os.environ.get("NOETL_SAFETY_INTERVAL", "2.0")),
        help="seconds between scans when no notification arrives (default 2)",
    )
    parser.add_argument("--log-level", default=os.environ.get("NOETL_LOG_LEVEL", "INFO"))
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=args.log_level.upper(),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    engine = Engine(
        resolve_dsn(),
        engine_id=args.engine_id,
        batch_executions=args.batch,
        safety_interval=args.safety_interval,
    )

    run_until_stopped(engine)
    return 0


if __name__ == "__main__":
    sys.exit(main())
