"""Client events: the only code that writes them, and waiting for an engine to apply them.

A client (the gateway for HTTP, the CLI straight on the database) starts an execution
(`workflow.start`), stops one (`workflow.cancel`), or reports, as an external worker, a
command it holds (`call.done`, fenced by its lease). Nothing here evaluates rules: the
event is checked, inserted (the insert trigger wakes the engines), and, when the caller
asks, watched until an engine has set its `processed_at`.

Refusals are `StoreError`s (`store/errors.py`) raised inside the write's transaction, so a
refused event leaves nothing behind.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import psycopg
import psycopg_pool
from psycopg.types.json import Jsonb

from noetl_pg.protocol import TERMINAL, CallStatus, CommandStatus, EventName, Lease
from noetl_pg.protocol.client import CancelEvent, ClientEvent, StartEvent
from noetl_pg.store.access import DataAccess
from noetl_pg.store.catalog import PlaybookCatalog
from noetl_pg.store.drain import refuse_if_draining
from noetl_pg.store.errors import (
    CommandNotFound,
    CommandOfAnotherExecution,
    ExecutionExists,
    ExecutionFinished,
    ExecutionNotFound,
    LeaseNotHeld,
    PlaybookNotFound,
)
from noetl_pg.store.executions import ExecutionReader

log = logging.getLogger(__name__)

POLL_INTERVAL = 0.02  # seconds between two looks at the awaited events


@dataclass(frozen=True)
class Accepted:
    """An event written and not yet applied."""

    event_id: int
    execution_id: str


@dataclass(frozen=True)
class Applied:
    """An event an engine has applied; `error` is its reason when it refused the event."""

    event_id: int
    execution_id: str
    commands_generated: int
    error: str | None


def new_execution_id() -> str:
    """Like the table's default: 'exec-' and 32 hex digits."""
    return "exec-" + uuid.uuid4().hex


class ClientEvents(DataAccess):
    """Each write runs in its own transaction, or, inside the caller's, in a savepoint
    (the gateway claims an idempotency key in the same transaction)."""

    async def write(self, event: ClientEvent) -> Accepted:
        """Append one typed client event (the gateway's one call)."""
        if isinstance(event, StartEvent):
            extra = event.payload.model_dump(
                exclude={"path", "version", "workload"}, exclude_none=True
            )
            return await self.start_execution(
                event.payload.path,
                version=event.payload.version,
                workload=event.payload.workload,
                execution_id=event.execution_id,
                extra=extra,
            )
        if isinstance(event, CancelEvent):
            return await self.cancel_execution(event.execution_id, event.payload.reason)
        lease = Lease(event.queue_id, event.worker_id, event.attempt)
        payload = event.payload.model_dump(exclude_unset=True)
        return await self.report_call_done(lease, payload, execution_id=event.execution_id)

    async def start_execution(
        self,
        path: str,
        *,
        version: int | None = None,
        workload: Mapping[str, Any] | None = None,
        execution_id: str | None = None,
        extra: Mapping[str, Any] | None = None,
    ) -> Accepted:
        """Append the `workflow.start` of a new execution of a registered playbook.

        `extra` holds further payload keys a client sent along, kept as they are.
        """
        execution_id = execution_id or new_execution_id()
        payload: dict[str, Any] = {**(extra or {}), "path": path}
        if version is not None:
            payload["version"] = version
        if workload is not None:
            payload["workload"] = dict(workload)
        async with self.conn.transaction():
            if "parent" not in payload:  # a sub-playbook is how a running execution ends
                await refuse_if_draining(self.conn)
            if not await PlaybookCatalog(self.conn).has_playbook(path, version):
                raise PlaybookNotFound(path, version)
            await self._lock_execution_id(execution_id)
            if await self._was_started(execution_id):
                raise ExecutionExists(execution_id)
            return await self._insert(execution_id, EventName.WORKFLOW_START, payload)

    async def cancel_execution(self, execution_id: str, reason: str | None = None) -> Accepted:
        """Append a `workflow.cancel` for an execution that has not finished."""
        payload = {"reason": reason} if reason is not None else {}
        return await self._to_unfinished(execution_id, EventName.WORKFLOW_CANCEL, payload)

    async def signal(self, execution_id: str, name: str, data: Mapping[str, Any]) -> Accepted:
        """Append a `signal` (payload `{...data, name}`) for an execution that has not
        finished: it resumes the first `wait` on `name`, or is kept for the next one."""
        payload = {**data, "name": name}
        return await self._to_unfinished(execution_id, EventName.SIGNAL, payload)

    async def _to_unfinished(
        self, execution_id: str, name: EventName, payload: dict[str, Any]
    ) -> Accepted:
        async with self.conn.transaction():
            await self._lock_execution_id(execution_id)
            state = await ExecutionReader(self.conn).state_of(execution_id)
            if state is None:
                raise ExecutionNotFound(execution_id)
            if state["status"] in TERMINAL:
                raise ExecutionFinished(execution_id, state["status"])
            return await self._insert(execution_id, name, payload)

    async def report_call_done(
        self, lease: Lease, payload: Mapping[str, Any], *, execution_id: str | None = None
    ) -> Accepted:
        """An external worker's fenced report: finish the command and append its
        `call.done`, only while it still holds `lease`. `payload` is `{response}` or
        `{error: {kind, message, ...}}`; `execution_id`, when given, must be the command's."""
        error = payload.get("error")
        ok = error is None
        async with self.conn.transaction():
            row = await self._fetch_one(
                "report_command",
                {  # the statuses the worker's own reports use (store/queue.py)
                    "queue_id": lease.queue_id,
                    "worker_id": lease.worker_id,
                    "attempt": lease.attempt,
                    "queue_status": CommandStatus.of_outcome(ok),
                    "event_status": CallStatus.of_outcome(ok),
                    "last_error": error.get("message") if isinstance(error, dict) else None,
                    "payload": Jsonb(dict(payload)),
                },
            )
            if row is None:
                raise await self._lease_refusal(lease)
            if execution_id is not None and execution_id != row["execution_id"]:
                # raising rolls the report back
                raise CommandOfAnotherExecution(lease.queue_id, row["execution_id"], execution_id)
        return Accepted(row["event_id"], row["execution_id"])

    async def applied(self, events: Sequence[Accepted]) -> list[Applied]:
        """Of these events, the ones an engine has applied (one query for all of them)."""
        if not events:
            return []
        rows = await self._fetch_all(
            "processed_events",
            {
                "event_ids": [event.event_id for event in events],
                "execution_ids": sorted({event.execution_id for event in events}),
            },
        )
        return [
            Applied(
                row["event_id"], row["execution_id"], row["commands_generated"] or 0, row["error"]
            )
            for row in rows
        ]

    async def _lock_execution_id(self, execution_id: str) -> None:
        """Hold, until the transaction ends, the client-event lock of this execution id."""
        await self._execute("lock_execution_id", {"execution_id": execution_id})

    async def _was_started(self, execution_id: str) -> bool:
        """The execution exists, or a workflow.start for it was accepted already."""
        params = {"execution_id": execution_id}
        return bool(await self._fetch_value("execution_started", "started", params))

    async def _insert(
        self, execution_id: str, name: EventName, payload: dict[str, Any]
    ) -> Accepted:
        row = await self._fetch_one(
            "insert_client_event",
            {"execution_id": execution_id, "name": name, "step": None, "payload": Jsonb(payload)},
        )
        assert row is not None  # INSERT ... RETURNING always returns the row
        return Accepted(row["event_id"], row["execution_id"])

    async def _lease_refusal(self, lease: Lease) -> LeaseNotHeld:
        command = await self._fetch_one("describe_command", {"queue_id": lease.queue_id})
        if command is None:
            return CommandNotFound(lease.queue_id)
        return LeaseNotHeld(lease.queue_id, lease.worker_id, lease.attempt, command)


class AppliedWaiter:
    """Waits for engines to apply events, for any number of waiters at once.

    One background task polls for every waiting caller (one query per interval, whatever
    their number), so a burst of requests does not become a burst of polls.
    """

    def __init__(self, pool: psycopg_pool.AsyncConnectionPool, interval: float = POLL_INTERVAL):
        self._pool = pool
        self._interval = interval
        self._waiting: dict[Accepted, list[asyncio.Future[Applied]]] = {}
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="applied-waiter")

    async def stop(self) -> None:
        if self._task:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        for futures in self._waiting.values():
            for future in futures:
                future.cancel()
        self._waiting.clear()

    async def wait(self, event: Accepted, timeout: float) -> Applied | None:
        """The applied event, or None when no engine applied it within `timeout` seconds."""
        if timeout <= 0:
            return None
        future: asyncio.Future[Applied] = asyncio.get_running_loop().create_future()
        self._waiting.setdefault(event, []).append(future)
        self._wake.set()
        try:
            return await asyncio.wait_for(future, timeout)
        except TimeoutError:
            return None
        finally:
            futures = self._waiting.get(event, [])
            if future in futures:
                futures.remove(future)
            if not futures:
                self._waiting.pop(event, None)

    async def _run(self) -> None:
        while True:
            if not self._waiting:
                self._wake.clear()
                await self._wake.wait()
            try:
                await self._poll_once()
            except (psycopg.Error, psycopg_pool.PoolTimeout) as exc:
                # The waiters time out and answer "accepted"; the event is safely stored.
                log.warning("polling for applied events failed: %s", exc)
            await asyncio.sleep(self._interval)

    async def _poll_once(self) -> None:
        waited = list(self._waiting)
        if not waited:
            return
        async with self._pool.connection() as conn:
            applied = await ClientEvents(conn).applied(waited)
        for event in applied:
            for future in self._waiting.pop(Accepted(event.event_id, event.execution_id), []):
                if not future.done():
                    future.set_result(event)
