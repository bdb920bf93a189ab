"""Apply the waiting events of executions whose advisory lock this transaction holds:
load their events and state, run the pure core, write the effects.

The engine daemon runs this for the executions it claims; any process that holds an
execution's lock (`EngineStore.lock_execution`) can run the same sequence on its own
connection. Nothing here decides meaning: that is `core.py`.
"""

from __future__ import annotations

import logging
from dataclasses import asdict, dataclass, field
from typing import Any

from noetl_pg import tracing
from noetl_pg.dsl import PlaybookError, parse_playbook
from noetl_pg.engine.compiled import CompiledPlaybook
from noetl_pg.engine.core import apply_event, fail_execution
from noetl_pg.engine.reaction import InputEvent, ParentReport, Reaction
from noetl_pg.engine.state import ExecutionState
from noetl_pg.protocol import TERMINAL, EventName
from noetl_pg.store.concurrency import admit, set_queued
from noetl_pg.store.deadlines import cancel_timed_out_commands, insert_deadlines
from noetl_pg.store.drain import REFUSAL as DRAINING
from noetl_pg.store.drain import is_draining
from noetl_pg.store.engine_store import EngineStore

log = logging.getLogger("noetl_pg.engine")


@dataclass
class Effects:
    """What one transaction writes: every reaction of the events it applied."""

    commands: list[dict[str, Any]] = field(default_factory=list)
    events: list[dict[str, Any]] = field(default_factory=list)
    marks: list[dict[str, Any]] = field(default_factory=list)
    deadlines: list[dict[str, Any]] = field(default_factory=list)
    cancelled: list[str] = field(default_factory=list)
    timed_out: list[dict[str, Any]] = field(default_factory=list)  # commands to cancel
    queued: list[dict[str, Any]] = field(default_factory=list)  # playbook `concurrency`
    slots: set[str] = field(default_factory=set)  # queued or ended: admission to run
    parent_reports: list[ParentReport] = field(default_factory=list)
    states: dict[str, ExecutionState] = field(default_factory=dict)
    applied: dict[str, int] = field(default_factory=dict)
    last_event: dict[str, int] = field(default_factory=dict)

    def add(self, event: InputEvent, reaction: Reaction, *, refusal: str | None = None) -> None:
        """Record `reaction` to `event`; `refusal` marks the event refused even though the
        reaction changes the execution (quarantine)."""
        error = refusal or reaction.error
        self.marks.append(
            {
                "event_id": event.event_id,
                "error": error,
                "diagnostic": reaction.diagnostics or None,
                "commands_generated": len(reaction.commands),
            }
        )
        state = reaction.state
        if reaction.error is not None or state is None:
            if reaction.error:
                log.info("event %s refused: %s", event.event_id, reaction.error)
            return
        execution_id = state.execution_id
        self.states[execution_id] = state
        self.applied.setdefault(execution_id, 0)
        if refusal is None:
            self.applied[execution_id] += 1
            self.last_event[execution_id] = event.event_id
        self.commands.extend(
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
                "step_limit": command.step_limit,
                "step_key": command.step_key,
            }
            for command in reaction.commands
        )
        self.events.extend(
            {
                "execution_id": execution_id,
                "event_type": emitted.name,
                "node_name": emitted.step,
                "status": emitted.status,
                "payload": emitted.payload,
            }
            for emitted in reaction.events
        )
        self.deadlines.extend(asdict(deadline) for deadline in reaction.deadlines)
        if reaction.cancel_pending:
            self.cancelled.append(execution_id)
        self.timed_out.extend(
            {"execution_id": execution_id, "run_key": key} for key in reaction.cancel_commands
        )
        if reaction.queued is not None:
            key, limit = reaction.queued
            self.queued.append(
                {"execution_id": execution_id, "key": key, "lim": limit, "seq": event.event_id}
            )
        if reaction.queued is not None or state.status in TERMINAL:
            self.slots.add(execution_id)
        if reaction.parent_report is not None:
            self.parent_reports.append(reaction.parent_report)

    async def write(self, store: EngineStore) -> None:
        async with store.conn.pipeline():  # nothing is read back: one round trip
            await store.insert_commands(self.commands)
            await store.insert_events(self.events)
            await insert_deadlines(store.conn, self.deadlines)
            await store.save_executions(
                [
                    _execution_row(state, self.applied[eid], self.last_event.get(eid))
                    for eid, state in self.states.items()
                ]
            )
            await store.mark_processed(self.marks)
            await cancel_timed_out_commands(store.conn, self.timed_out)
            await set_queued(store.conn, self.queued)
            # Before cancel_pending: admission may wait for a key's lock, and must not
            # hold an event lock of another execution's (a child's) while it waits.
            await admit(store.conn, sorted(self.slots))
            await store.cancel_pending(self.cancelled)
            for report in self.parent_reports:
                await store.report_to_parent(report.parent_queue_id, report.ok, report.payload)


class EventApplier:
    """Applies executions' waiting events through the pure core, caching the parsed
    playbook versions it needs (versions never change, so each is parsed once)."""

    def __init__(self, *, batch_events: int = 1000) -> None:
        self.batch_events = batch_events
        self._playbooks: dict[tuple[str, int], CompiledPlaybook] = {}

    async def apply(self, store: EngineStore, ids: list[str], *, known_only: bool = False) -> int:
        """Apply the waiting events of these locked executions and write what they did;
        the number of events applied or refused. `known_only` leaves the events of
        executions with no stored state waiting (for the engine to judge)."""
        rows, executions = await store.load_batch(ids, self.batch_events)
        if known_only:
            rows = [row for row in rows if row["execution_id"] in executions]
        start_paths = {
            row["payload"]["path"]
            for row in rows
            if row["event_type"] == EventName.WORKFLOW_START
            and isinstance(row["payload"], dict)
            and isinstance(row["payload"].get("path"), str)
        }
        latest = await store.latest_versions(sorted(start_paths))
        draining = bool(start_paths) and await is_draining(store.conn)
        effects = Effects()
        for row in rows:
            event = _input_event(row)
            state = effects.states.get(event.execution_id)
            if state is None and event.execution_id in executions:
                state = ExecutionState.from_row(executions[event.execution_id])
            if draining and _new_workflow(state, event):
                effects.add(event, Reaction(state=None, error=DRAINING))
                continue
            effects.add(event, await self._react(store, state, event, latest))
        await effects.write(store)
        return len(rows)

    async def quarantine(self, store: EngineStore, execution_id: str, failure: str) -> int:
        """The effects of this locked execution's waiting events could not be stored (the
        transaction that tried rolled back): refuse those events with `failure` and fail
        the execution from its stored state, as any failure does."""
        rows, executions = await store.load_batch([execution_id], self.batch_events)
        if not rows:
            return 0
        events = [_input_event(row) for row in rows]
        stored = executions.get(execution_id)
        state = ExecutionState.from_row(stored) if stored is not None else None
        effects = Effects()
        reaction = fail_execution(state, events[0], failure)
        effects.add(events[0], reaction, refusal=failure)
        for event in events[1:]:
            effects.add(event, Reaction(state=None, error=failure))
        await effects.write(store)
        log.error("execution %s quarantined: %s", execution_id, failure)
        return len(rows)

    async def refuse(self, store: EngineStore, execution_id: str, failure: str) -> int:
        """The last resort when even the failed execution cannot be stored: refuse its
        waiting events, so nothing is retried forever."""
        rows = await store.load_events([execution_id], self.batch_events)
        effects = Effects()
        for row in rows:
            effects.add(_input_event(row), Reaction(state=None, error=failure))
        await effects.write(store)
        log.error("execution %s: its events were refused: %s", execution_id, failure)
        return len(rows)

    async def _react(
        self,
        store: EngineStore,
        state: ExecutionState | None,
        event: InputEvent,
        latest: dict[str, int],
    ) -> Reaction:
        try:
            playbook, problem = await self._playbook_for(store, state, event, latest)
            if problem is not None:
                return fail_execution(state, event, problem)
            with tracing.span(f"apply {event.name}", event.execution_id, step=event.step):
                return apply_event(state, event, playbook)
        except Exception as exc:  # a bug must not wedge the execution: fail it, move on
            log.exception("applying event %s failed", event.event_id)
            message = f"internal engine error applying {event.name}: {type(exc).__name__}: {exc}"
            return fail_execution(state, event, storable_text(message))

    async def _playbook_for(
        self,
        store: EngineStore,
        state: ExecutionState | None,
        event: InputEvent,
        latest: dict[str, int],
    ) -> tuple[CompiledPlaybook | None, str | None]:
        """The playbook the event applies to, or why there is none that can be used."""
        if event.name == EventName.WORKFLOW_START and state is None:
            path = event.payload.get("path")
            if not isinstance(path, str) or not path:
                return None, "workflow.start needs `path` in its payload"
            version = event.payload.get("version")
            try:
                version = int(version) if version is not None else None
            except (TypeError, ValueError):
                return None, f"workflow.start `version` must be a number, not {version!r}"
            version = version if version is not None else latest.get(path)
            if version is None:
                return None, None  # not registered: the core fails the execution clearly
            return await self._playbook(store, path, version), None
        if state is None or not state.path or state.version == 0:
            return None, None  # no execution, or one that never ran a playbook
        playbook = await self._playbook(store, state.path, state.version)
        if playbook is None:
            return None, f"playbook {state.path!r} version {state.version} has disappeared"
        return playbook, None

    async def _playbook(
        self, store: EngineStore, path: str, version: int
    ) -> CompiledPlaybook | None:
        key = (path, version)
        if key not in self._playbooks:
            row = await store.playbook_row(path, version)
            if row is None:
                return None
            try:
                parsed = parse_playbook(row["yaml"], source=f"{path}@{version}")
            except PlaybookError as exc:
                raise RuntimeError(
                    f"registered playbook {path}@{version} is invalid: {exc}"
                ) from exc
            self._playbooks[key] = CompiledPlaybook.of(parsed, version)
        return self._playbooks[key]


def storable_text(text: str) -> str:
    """`text` with the one character PostgreSQL text and jsonb cannot hold spelled out."""
    return text.replace("\x00", "\\u0000")


def _new_workflow(state: ExecutionState | None, event: InputEvent) -> bool:
    """A start of new work (drain refuses it), not a sub-playbook of a running execution."""
    return (
        state is None and event.name == EventName.WORKFLOW_START and "parent" not in event.payload
    )


def _input_event(row: dict[str, Any]) -> InputEvent:
    return InputEvent(
        event_id=row["event_id"],
        execution_id=row["execution_id"],
        name=row["event_type"],
        step=row["node_name"],
        payload=row["payload"] if isinstance(row["payload"], dict) else {},
        run_key=row["run_key"],
    )


def _execution_row(
    state: ExecutionState, applied: int, last_event_id: int | None
) -> dict[str, Any]:
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
