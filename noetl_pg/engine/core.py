"""The pure engine: (execution state, event, playbook) -> new state, commands, events.

No I/O happens here, so every rule of DSL.md sections 2-4 is testable without a database.
One external event can cascade through several internal ones (a `call.done` ends a step,
whose `step.exit` starts the next step, whose `step.enter` issues a command); all of
them are applied here, in order, and returned as already-applied events.

Every internal event reaches the step's rules through one routine, `_Reactor.react`;
what each `then` action does is in `actions.py`. An execution ends through `_finish`,
and fails only through `_fail`, whether a rule failed it, the engine hit a bug or its
effects could not be stored (`fail_execution`).
"""

from __future__ import annotations

import copy
from collections import deque
from typing import Any

from noetl_pg import daemon_metrics as metrics
from noetl_pg.dsl import Step, TemplateError, evaluate, evaluate_when, render_value
from noetl_pg.engine.actions import EngineError, Firing, SinkCall, apply_actions
from noetl_pg.engine.compiled import CompiledPlaybook
from noetl_pg.engine.reaction import (
    Command,
    Deadline,
    EmittedEvent,
    InputEvent,
    ParentReport,
    Reaction,
)
from noetl_pg.engine.scope import Scope
from noetl_pg.engine.state import ExecutionState, Iteration, LoopState, StepRun
from noetl_pg.protocol import (
    APPLIED_EVENTS,
    CLIENT_EVENTS,
    TERMINAL,
    ErrorKind,
    EventName,
    ExecutionStatus,
    StepStatus,
)

# Step entries one event may cause; a playbook whose steps skip into each other forever
# fails with a clear error instead of spinning inside one transaction.
MAX_CASCADE = 10_000
DEFAULT_LEASE_ATTEMPTS = 3


def apply_event(
    state: ExecutionState | None, event: InputEvent, playbook: CompiledPlaybook | None
) -> Reaction:
    """Apply one event. `playbook` is the execution's playbook; for `workflow.start` it is
    the one the start payload names (None when not registered)."""
    if event.name not in APPLIED_EVENTS:
        return Reaction(
            state=state,
            error=(
                f"event {event.name!r} is written by the engine only; clients may write "
                f"{', '.join(sorted(CLIENT_EVENTS))}"
            ),
        )
    if event.name == EventName.WORKFLOW_START:
        return _start(state, event, playbook)
    if state is None:
        return Reaction(state=None, error=f"no execution {event.execution_id!r} to apply it to")
    if playbook is None:  # it failed before its playbook ran (not registered)
        return Reaction(
            state=state, error=f"execution {event.execution_id!r} has no playbook to apply it to"
        )
    if event.name == EventName.SIGNAL:
        return _signal(state, event)
    if event.name == EventName.WORKFLOW_ADMIT:
        return _admit(state, event, playbook)
    reactor = _Reactor(state, playbook, event)
    if event.name == EventName.WORKFLOW_CANCEL:
        reactor.cancel(str(event.payload.get("reason") or "cancelled by request"))
    elif event.name == EventName.TIMEOUT:
        reactor.timeout()
    else:
        reactor.call_done()
    return reactor.reaction


def fail_execution(state: ExecutionState | None, event: InputEvent, message: str) -> Reaction:
    """Fail an execution from outside its rules (an internal engine error, effects that
    could not be stored, a playbook that cannot be loaded) exactly as a failed rule does:
    `workflow.failed`, pending commands cancelled, the parent told. It needs no playbook,
    so it works from the stored state after a rolled-back transaction; with no state, a
    `workflow.start` creates the execution failed (so a child's parent still hears)."""
    if state is None:
        if event.name != EventName.WORKFLOW_START:
            return Reaction(state=None, error=message)
        state = _state_of_start(event)
    elif state.status in TERMINAL:
        return Reaction(state=state, error=message)
    reaction = Reaction(state=state)
    _fail(state, reaction, message)
    return reaction


def _signal(state: ExecutionState, event: InputEvent) -> Reaction:
    """A signal is recorded; the maintenance scan hands it to the first `wait` on its
    name. One without a name, or to an execution that has ended, is refused."""
    name = event.payload.get("name")
    if not isinstance(name, str) or not name:
        return Reaction(state=state, error="a signal needs `name` (a string) in its payload")
    if state.status in TERMINAL:
        return Reaction(
            state=state,
            error=f"execution {event.execution_id!r} is {state.status}: signal {name!r} refused",
        )
    reaction = Reaction(state=state)
    reaction.diagnostics.append({"note": f"signal {name!r} kept for the first wait on it"})
    return reaction


def _start(
    state: ExecutionState | None, event: InputEvent, playbook: CompiledPlaybook | None
) -> Reaction:
    if state is not None:
        return Reaction(
            state=state, error=f"execution {event.execution_id!r} has already been started"
        )
    payload = event.payload or {}
    if playbook is None:
        path = payload.get("path")
        wanted = f"{path!r}" + (f" version {payload['version']}" if payload.get("version") else "")
        return fail_execution(None, event, f"playbook {wanted} is not registered")
    workload = payload.get("workload") or {}
    if not isinstance(workload, dict):
        return Reaction(state=None, error="workflow.start payload `workload` must be an object")
    priority = payload.get("priority", 0)
    if not isinstance(priority, int) or isinstance(priority, bool):
        return Reaction(
            state=None,
            error=f"workflow.start payload `priority` must be an integer, not {priority!r}",
        )
    new_state = ExecutionState(
        execution_id=event.execution_id,
        path=playbook.playbook.metadata.path,
        version=playbook.version,
        workload=_deep_merge(copy.deepcopy(playbook.playbook.workload), workload),
        parent=_parent_of(payload),
        priority=priority,
    )
    rerun = payload.get("rerun")
    if isinstance(rerun, dict):  # DSL.md section 10: carry the old run's results over
        new_state.ctx = dict(rerun.get("ctx") or {})
        new_state.step_results = dict(rerun.get("step_results") or {})
    entries, problem = _entries(payload, playbook)
    if problem is not None:
        return fail_execution(None, event, problem)
    if playbook.playbook.concurrency is not None:
        return _queue(new_state, event, playbook)
    return _begin(new_state, event, playbook, entries)


def _entries(payload: dict[str, Any], playbook: CompiledPlaybook) -> tuple[list[str], str | None]:
    """The steps a start enters: `start`, or a re-run's failed steps (DSL.md section 10)."""
    rerun = payload.get("rerun")
    if not isinstance(rerun, dict):
        return ["start"], None
    entries = list(rerun.get("steps") or [])
    unknown = [s for s in entries if s not in playbook.playbook.steps]
    if unknown or not entries:
        return [], f"rerun: the playbook has no step {', '.join(map(repr, unknown))}"
    return entries, None


def _begin(
    state: ExecutionState, event: InputEvent, playbook: CompiledPlaybook, entries: list[str]
) -> Reaction:
    """The execution runs: its playbook timeout starts and its first steps are entered."""
    reactor = _Reactor(state, playbook, event)
    if playbook.playbook.timeout is not None:
        reactor.reaction.deadlines.append(Deadline(event.execution_id, playbook.playbook.timeout))
    for step_name in entries:
        reactor.schedule_enter(step_name, {})
    reactor.drain()
    reactor.finish_if_idle()
    return reactor.reaction


def _queue(state: ExecutionState, event: InputEvent, playbook: CompiledPlaybook) -> Reaction:
    """Playbook `concurrency`: the execution waits as `queued` under its rendered key; the
    store admits it (a `workflow.admit`) when a slot of that key is free."""
    concurrency = playbook.playbook.concurrency
    assert concurrency is not None
    key: Any = state.path
    if concurrency.key is not None:
        scope = {"workload": state.workload, "execution_id": state.execution_id}
        try:
            key = render_value(concurrency.key, scope)
        except TemplateError as exc:
            return fail_execution(None, event, f"concurrency.key: {exc}")
    state.status = ExecutionStatus.QUEUED
    reaction = Reaction(state=state, queued=(str(key), concurrency.limit))
    reaction.events.append(
        EmittedEvent(
            EventName.WORKFLOW_QUEUED,
            None,
            ExecutionStatus.QUEUED,
            {"key": str(key), "limit": concurrency.limit},
        )
    )
    return reaction


def _admit(state: ExecutionState, event: InputEvent, playbook: CompiledPlaybook) -> Reaction:
    """A queued execution got its slot: it begins as its `workflow.start` said."""
    if state.status != ExecutionStatus.QUEUED:
        reaction = Reaction(state=state)
        reaction.diagnostics.append({"note": f"execution is {state.status}; admit ignored"})
        return reaction
    entries, problem = _entries(event.payload or {}, playbook)
    if problem is not None:
        return fail_execution(state, event, problem)
    state.status = ExecutionStatus.RUNNING
    return _begin(state, event, playbook, entries)


class _Reactor:
    """Applies one event to one execution, accumulating its Reaction."""

    def __init__(
        self, state: ExecutionState, playbook: CompiledPlaybook, event: InputEvent
    ) -> None:
        self.state = state
        self.compiled = playbook
        self.playbook = playbook.playbook
        self.event = event
        self.reaction = Reaction(state=state)
        self._entries: deque[tuple[str, dict[str, Any]]] = deque()
        self._cascade = 0
        self._filling: set[str] = set()  # loop runs whose fill_loop is on the stack

    # --- events from outside -----------------------------------------------------------

    def cancel(self, reason: str) -> None:
        if self.state.status in TERMINAL:
            self.note(f"execution is already {self.state.status}; cancel ignored")
            return
        self.state.status = ExecutionStatus.CANCELLED
        self.state.error = reason
        self.reaction.cancel_pending = True
        self.emit(EventName.WORKFLOW_CANCELLED, None, ExecutionStatus.CANCELLED, {"reason": reason})
        self.reaction.parent_report = _parent_report(self.state)

    def timeout(self) -> None:
        """A deadline row passed: the step run it names fails with `error.kind: timeout`
        (its rules may route that like any failure; its outstanding calls no longer
        count), or, with no run named, the whole execution fails."""
        if self.state.status != ExecutionStatus.RUNNING:
            self.note(f"execution is already {self.state.status}; timeout ignored")
            return
        payload = self.event.payload or {}
        seconds = payload.get("seconds")
        run_id = payload.get("run")
        if run_id is None:
            message = f"the playbook timeout of {seconds}s passed"
            self.state.failures.append({"step": None, "error": message, "kind": ErrorKind.TIMEOUT})
            _fail(self.state, self.reaction, None)
            return
        run = self.state.runs.get(run_id)
        if run is None:
            self.note(f"step run {run_id!r} has already ended; timeout ignored")
            return
        for key in [k for k, c in self.state.commands.items() if c.get("run_id") == run_id]:
            del self.state.commands[key]
            self.reaction.cancel_commands.append(key)
        error = {"kind": ErrorKind.TIMEOUT, "message": f"step timeout of {seconds}s passed"}
        self.exit_step(run, StepStatus.FAILED, None, error)
        self.drain()
        self.finish_if_idle()

    def call_done(self) -> None:
        run_key = self.event.run_key
        command = self.state.commands.pop(run_key, None) if run_key else None
        if command is None:
            self.note(
                "call.done names no outstanding command of this execution "
                f"(run_key={run_key!r}); a duplicate or a stale report: nothing changed"
            )
            return
        if self.state.status != ExecutionStatus.RUNNING:
            self.note(f"execution is {self.state.status}; the result is recorded, nothing starts")
            return
        payload = self.event.payload or {}
        error = payload.get("error")
        if command["kind"] == "sink":
            if error is not None:
                self.state.failures.append(
                    {"step": command["step"], "error": f"sink failed: {_message(error)}"}
                )
            self.finish_if_idle()
            return
        run = self.state.runs[command["run_id"]]
        iteration = run.iterations[command["iteration"]]
        extra = {"error": error} if error is not None else {"response": payload.get("response")}
        firing = self.react(run, iteration, EventName.CALL_DONE, payload, extra)
        self.after_call(firing, iteration, error, payload.get("response"))
        self.drain()
        self.finish_if_idle()

    def after_call(self, firing: Firing, iteration: Iteration, error: Any, response: Any) -> None:
        """What a reported call leads to: a fired `fail`/`skip`, another call, a retry, or
        the end of the iteration (failed when its error went unhandled)."""
        run = firing.run
        verdict = firing.verdict()
        if verdict is not None:
            self.end_iteration(run, iteration, *verdict)
        elif firing.call is not None:
            self.issue_call(firing, iteration, firing.call)
        elif firing.retry is not None and iteration.attempt < firing.retry.max_attempts:
            delay = firing.retry.delay_for(iteration.attempt)
            self.issue_call(firing, iteration, None, delay=delay)
        elif error is not None and (not firing.fired or firing.retry is not None):
            self.end_iteration(run, iteration, StepStatus.FAILED, error)
        else:
            if not iteration.result_set:
                iteration.result = response
            self.end_iteration(run, iteration, StepStatus.COMPLETED, None)

    # --- the one reaction routine --------------------------------------------------------

    def react(
        self,
        run: StepRun,
        iteration: Iteration | None,
        name: EventName,
        payload: dict[str, Any],
        extra: dict[str, Any],
    ) -> Firing:
        """Fire the step's first case entry whose `when` holds on this event and apply its
        `then` actions; the Firing says what they ask of the current call. The scope is
        built once for the whole event; a rule that cannot be applied fails the step."""
        firing = Firing(run, iteration, self.scope(run, iteration, name, payload, extra))
        for index, entry in enumerate(self.playbook.step(run.step).case):
            holds, reason = evaluate_when(entry.when, firing.scope.names)
            (metrics.RULES_HELD if holds else metrics.RULES_NOT_HELD).inc()
            if reason is not None:
                self.reaction.diagnostics.append(
                    {"step": run.step, "case": index, "event": name, "reason": reason}
                )
            if holds:
                firing.fired = True
                try:
                    apply_actions(firing, entry.then)
                except (TemplateError, EngineError) as exc:
                    firing.fail = f"step {run.step!r}, rule on {name}: {exc}"
                break
        for sink in firing.sinks:
            self.issue_sink(run, sink)
        return firing

    # --- steps -------------------------------------------------------------------------

    def schedule_enter(self, step_name: str, passed_args: dict[str, Any]) -> None:
        self._entries.append((step_name, passed_args))

    def drain(self) -> None:
        while self._entries and self.state.status == ExecutionStatus.RUNNING:
            self._cascade += 1
            if self._cascade > MAX_CASCADE:
                _fail(
                    self.state,
                    self.reaction,
                    f"more than {MAX_CASCADE} step entries caused by one event: the playbook "
                    "loops through steps that never call a tool",
                )
                return
            step_name, passed_args = self._entries.popleft()
            self.enter_step(step_name, passed_args)

    def enter_step(self, step_name: str, passed_args: dict[str, Any]) -> None:
        step = self.playbook.step(step_name)
        self.state.run_seq += 1
        run = StepRun(run_id=f"{step_name}#{self.state.run_seq}", step=step_name, args=passed_args)
        self.state.runs[run.run_id] = run
        if step.timeout is not None:
            self.reaction.deadlines.append(
                Deadline(self.state.execution_id, step.timeout, step_name, run.run_id)
            )
        try:
            if step.loop is None:
                self.start_iteration(run, 0, None)
                return
            items = self.loop_items(step, run)
        except (TemplateError, EngineError) as exc:
            self.exit_step(
                run, StepStatus.FAILED, None, {"kind": ErrorKind.TEMPLATE, "message": str(exc)}
            )
            return
        run.loop = LoopState(
            items=items,
            iterator=step.loop.iterator,
            mode=step.loop.mode,
            max_in_flight=(
                1
                if step.loop.mode == "sequential"
                else (step.loop.max_in_flight or max(len(items), 1))
            ),
            results=[None] * len(items),
        )
        if not items:
            self.loop_done(run)
            return
        self.fill_loop(run)

    def loop_items(self, step: Step, run: StepRun) -> list[Any]:
        assert step.loop is not None
        source = step.loop.in_
        names = self.scope(run, None, EventName.STEP_ENTER, {}).names
        items = evaluate(source, names) if isinstance(source, str) else render_value(source, names)
        if isinstance(items, dict):
            items = [{"key": k, "value": v} for k, v in items.items()]
        if not isinstance(items, list | tuple):
            raise EngineError(
                f"step {step.step!r}: loop `in` must give a list, got {type(items).__name__}"
            )
        return list(items)

    def fill_loop(self, run: StepRun) -> None:
        """Start iterations up to the loop's limit. Iterations that end at once (skipped on
        step.enter) come back here; the guard keeps that iterative, not recursive."""
        loop = run.loop
        assert loop is not None
        if run.run_id in self._filling:
            return
        self._filling.add(run.run_id)
        try:
            while (
                not loop.failed
                and loop.next_index < len(loop.items)
                and loop.in_flight < loop.max_in_flight
                and run.run_id in self.state.runs
                and self.state.status == ExecutionStatus.RUNNING
            ):
                index = loop.next_index
                loop.next_index += 1
                self.start_iteration(run, index, loop.items[index])
        finally:
            self._filling.discard(run.run_id)

    def start_iteration(self, run: StepRun, index: int, item: Any) -> None:
        step = self.playbook.step(run.step)
        iteration = Iteration(index=index, item=item)
        run.iterations[index] = iteration
        try:
            # The step's own args, rendered (per item in a loop), under those passed by next.
            own: dict[str, Any] = {}
            if step.args:
                names = self.scope(run, iteration, EventName.STEP_ENTER, {}).names
                own = render_value(step.args, names)
            iteration.args = {**own, **run.args}
        except TemplateError as exc:
            self.end_iteration(
                run, iteration, StepStatus.FAILED, {"kind": ErrorKind.TEMPLATE, "message": str(exc)}
            )
            return
        if run.loop is None:
            run.args = iteration.args
        payload: dict[str, Any] = {"args": iteration.args, "run": run.run_id}
        if run.loop is not None:
            payload["iteration"] = index
        self.emit(EventName.STEP_ENTER, run.step, None, payload)
        firing = self.react(run, iteration, EventName.STEP_ENTER, payload, {})
        verdict = firing.verdict()
        if verdict is not None:
            self.end_iteration(run, iteration, *verdict)
        else:
            self.issue_call(firing, iteration, firing.call or {})

    def issue_call(
        self,
        firing: Firing,
        iteration: Iteration,
        overrides: dict[str, Any] | None,
        *,
        delay: float = 0.0,
    ) -> None:
        """Issue a call: a new one (`overrides` merged over the last config), or the same
        call again (`overrides` None: a retry). Templates see the firing event's scope."""
        run = firing.run
        step = self.playbook.step(run.step)
        if iteration.calls >= step.max_iterations:
            self.end_iteration(
                run,
                iteration,
                StepStatus.FAILED,
                {
                    "kind": ErrorKind.MAX_ITERATIONS,
                    "message": (
                        f"step {run.step!r} reached max_iterations ({step.max_iterations} "
                        "calls); raise `max_iterations` on the step if more are expected"
                    ),
                },
            )
            return
        try:
            kind, config, args = self.tool_call(step, iteration, firing.scope)
            if overrides is None:
                config = iteration.config if iteration.config is not None else config
                iteration.attempt += 1
            else:
                base = iteration.config if iteration.config is not None else config
                config = _deep_merge(copy.deepcopy(base), overrides)
                iteration.attempt = 1
        except TemplateError as exc:
            self.end_iteration(
                run, iteration, StepStatus.FAILED, {"kind": ErrorKind.TEMPLATE, "message": str(exc)}
            )
            return
        iteration.calls += 1
        iteration.config = config
        run_key = f"{run.run_id}/{iteration.index}/{iteration.calls}"
        self.enqueue(
            run,
            run_key,
            {"iteration": iteration.index, "kind": "call"},
            kind,
            config,
            args,
            self.command_context(step, iteration),
            delay,
        )

    def enqueue(
        self,
        run: StepRun,
        run_key: str,
        bookkeeping: dict[str, Any],
        kind: str,
        config: dict[str, Any],
        args: dict[str, Any],
        context: dict[str, Any],
        delay: float = 0.0,
    ) -> None:
        """Record a command as outstanding and hand it to the daemon to insert."""
        self.state.commands[run_key] = {"run_id": run.run_id, "step": run.step, **bookkeeping}
        step = self.playbook.step(run.step)
        limited = step.concurrency is not None and bookkeeping.get("kind") != "sink"
        self.reaction.commands.append(
            Command(
                execution_id=self.state.execution_id,
                step=run.step,
                tool_kind=kind,
                tool_config=config,
                args=args,
                context=context,
                run_key=run_key,
                delay_seconds=delay,
                timeout_seconds=_timeout(config),
                max_attempts=DEFAULT_LEASE_ATTEMPTS,
                priority=self.state.priority + step.priority,
                # step `concurrency`: counted per playbook path and step, in the lease
                step_limit=step.concurrency.limit if limited else None,
                step_key=f"{self.state.path}:{run.step}" if limited else None,
            )
        )

    def tool_call(
        self, step: Step, iteration: Iteration, scope: Scope
    ) -> tuple[str, dict[str, Any], dict[str, Any]]:
        """The kind, rendered config and args of the step's tool (workbook resolved)."""
        tool = step.tool
        args = iteration.args
        if tool.kind == "workbook":
            own = tool.config()
            task_args = own.get("args", own.get("with", {}))
            args = {**args, **render_value(task_args, scope.names)}
            tool = self.playbook.workbook_tool(step.tool.workbook_task)
            return tool.kind, render_value(tool.config(), scope.with_args(args)), args
        if iteration.config is not None:
            return tool.kind, iteration.config, args
        return tool.kind, render_value(tool.config(), scope.names), args

    def command_context(self, step: Step, iteration: Iteration) -> dict[str, Any]:
        context: dict[str, Any] = {"iteration": iteration.index, "attempt": iteration.attempt}
        secrets = self.compiled.secrets[step.step]
        if secrets:
            context["secrets"] = list(secrets)
        return context

    def issue_sink(self, run: StepRun, sink: SinkCall) -> None:
        self.state.sink_seq += 1
        run_key = f"{run.run_id}/sink/{self.state.sink_seq}"
        self.enqueue(
            run, run_key, {"kind": "sink"}, sink.kind, sink.config, sink.args, {"sink": True}
        )

    def end_iteration(
        self, run: StepRun, iteration: Iteration, status: StepStatus, error: Any
    ) -> None:
        iteration.status = status
        iteration.error = error
        if run.loop is None:
            failed = status == StepStatus.FAILED
            result = iteration.result if iteration.result_set or not failed else None
            if iteration.result_set:
                run.result, run.result_set = iteration.result, True
            self.exit_step(run, status, result, error)
            return
        loop = run.loop
        loop.finished += 1
        loop.results[iteration.index] = iteration.result
        # Nothing refers to a finished iteration again (its result is in loop.results):
        # the state keeps only iterations in flight, however long the loop.
        run.iterations.pop(iteration.index, None)
        if status == StepStatus.FAILED and not loop.failed:
            loop.failed, loop.error = True, error
        all_started = loop.failed or loop.next_index >= len(loop.items)
        if loop.finished >= loop.next_index and all_started:
            self.loop_done(run)
        else:
            self.fill_loop(run)

    def loop_done(self, run: StepRun) -> None:
        loop = run.loop
        assert loop is not None
        result = list(loop.results)
        status, error = (
            (StepStatus.FAILED, loop.error) if loop.failed else (StepStatus.COMPLETED, None)
        )
        self.emit(EventName.LOOP_DONE, run.step, status, {"result": result})
        firing = self.react(run, None, EventName.LOOP_DONE, {"result": result}, {"result": result})
        verdict = firing.verdict()
        if verdict is not None:
            status, error = verdict[0], verdict[1] or error  # a skip keeps the loop's error
        self.exit_step(run, status, result, error)

    def exit_step(self, run: StepRun, status: StepStatus, result: Any, error: Any) -> None:
        if run.result_set:
            result = run.result
        extra: dict[str, Any] = {"result": result, "status": status}
        if error is not None:
            extra["error"] = error
        firing = self.react(run, None, EventName.STEP_EXIT, dict(extra), extra)
        if firing.fail is not None:  # a skip cannot undo a step that has ended
            status, error = StepStatus.FAILED, {"kind": ErrorKind.FAIL, "message": firing.fail}
        if run.result_set:
            result = run.result
        exit_payload: dict[str, Any] = {"result": result, "status": status, "run": run.run_id}
        if error is not None:
            exit_payload["error"] = error
        self.emit(EventName.STEP_EXIT, run.step, status, exit_payload)
        self.state.runs.pop(run.run_id, None)
        firing.scope.write_step_result(run.step, result)
        self.state.last_result = result
        if run.next_fired:
            targets = run.next_fired
        elif status == StepStatus.FAILED:
            targets = []
            self.state.failures.append({"step": run.step, "error": _message(error), **_kind(error)})
        else:
            step = self.playbook.step(run.step)
            try:
                targets = [
                    {"step": t.step, "args": render_value(t.args, firing.scope.names)}
                    for t in step.next
                ]
            except TemplateError as exc:
                self.state.failures.append({"step": run.step, "error": f"next args: {exc}"})
                targets = []
        for target in targets:
            self.schedule_enter(target["step"], target["args"])

    # --- helpers -----------------------------------------------------------------------

    def scope(
        self,
        run: StepRun,
        iteration: Iteration | None,
        name: EventName,
        payload: dict[str, Any],
        extra: dict[str, Any] | None = None,
    ) -> Scope:
        loop = None
        if run.loop is not None and iteration is not None:
            loop = (run.loop, iteration)
        if iteration is not None and iteration.status == StepStatus.RUNNING and iteration.args:
            args = iteration.args
        else:
            args = run.args
        return Scope(
            self.state,
            args=args,
            event={"name": name, "step": run.step, "payload": payload},
            loop=loop,
            extra=extra,
        )

    def emit(
        self, name: EventName, step: str | None, status: str | None, payload: dict[str, Any]
    ) -> None:
        self.reaction.events.append(EmittedEvent(name, step, status, payload))

    def note(self, message: str) -> None:
        self.reaction.diagnostics.append({"note": message})

    def finish_if_idle(self) -> None:
        state = self.state
        if state.status == ExecutionStatus.RUNNING and not state.runs and not state.commands:
            _finish(state, self.reaction)


def _finish(state: ExecutionState, reaction: Reaction) -> None:
    """Nothing runs any more: the execution completes, or fails if a step failed unhandled."""
    if state.failures:
        _fail(state, reaction, None)
        return
    state.status = ExecutionStatus.COMPLETED
    state.result = state.last_result
    reaction.events.append(
        EmittedEvent(
            EventName.WORKFLOW_COMPLETE,
            None,
            ExecutionStatus.COMPLETED,
            {"result": state.result},
        )
    )
    reaction.parent_report = _parent_report(state)


def _fail(state: ExecutionState, reaction: Reaction, message: str | None) -> None:
    """The one way an execution fails: `workflow.failed` naming every failure (plus
    `message`, a failure of the execution itself), its step runs and outstanding commands
    dropped, its pending commands cancelled and its parent told."""
    if message is not None:
        state.failures.append({"step": None, "error": message})
    state.status = ExecutionStatus.FAILED
    state.result = state.last_result
    state.error = "; ".join(
        f"step {f['step']!r}: {f['error']}" if f["step"] else str(f["error"])
        for f in state.failures
    )
    state.runs.clear()
    state.commands.clear()
    reaction.cancel_pending = True
    reaction.events.append(
        EmittedEvent(
            EventName.WORKFLOW_FAILED,
            None,
            ExecutionStatus.FAILED,
            {"error": state.error, "failures": state.failures, "result": state.result},
        )
    )
    reaction.parent_report = _parent_report(state)


def _state_of_start(event: InputEvent) -> ExecutionState:
    """The execution a `workflow.start` names, before anything of its playbook ran."""
    payload = event.payload or {}
    path = payload.get("path")
    return ExecutionState(
        execution_id=event.execution_id,
        path=str(path) if path else "",
        version=0,
        parent=_parent_of(payload),
    )


def _parent_of(payload: dict[str, Any]) -> dict[str, Any] | None:
    """The parent a child's start payload names; anything malformed names none (it would
    make the execution row unwritable)."""
    parent = payload.get("parent")
    if not isinstance(parent, dict) or not isinstance(parent.get("execution_id"), str):
        return None
    queue_id = parent.get("queue_id")
    if queue_id is not None and (not isinstance(queue_id, int) or isinstance(queue_id, bool)):
        return None
    return parent


def _parent_report(state: ExecutionState) -> ParentReport | None:
    parent = state.parent
    if not parent or parent.get("queue_id") is None:
        return None
    if state.status == ExecutionStatus.COMPLETED:
        return ParentReport(
            parent["execution_id"], parent["queue_id"], True, {"response": state.result}
        )
    return ParentReport(
        parent["execution_id"],
        parent["queue_id"],
        False,
        {
            "error": {
                "kind": ErrorKind.CHILD_FAILED,
                "message": f"child execution {state.execution_id} {state.status}: {state.error}",
                "execution_id": state.execution_id,
            }
        },
    )


def _deep_merge(base: dict[str, Any], overrides: dict[str, Any]) -> dict[str, Any]:
    for key, value in overrides.items():
        if isinstance(value, dict) and isinstance(base.get(key), dict):
            base[key] = _deep_merge(base[key], value)
        else:
            base[key] = value
    return base


def _timeout(config: dict[str, Any]) -> float | None:
    value = config.get("timeout")
    try:
        return float(value) if value is not None else None
    except (TypeError, ValueError):
        return None


def _kind(error: Any) -> dict[str, Any]:
    """`{"kind": ...}` of a structured error, so a failure keeps what kind it was."""
    if isinstance(error, dict) and error.get("kind"):
        return {"kind": error["kind"]}
    return {}


def _message(error: Any) -> str:
    if isinstance(error, dict):
        text = str(error.get("message") or error)
        if error.get("type"):  # a python step's exception: `KeyError: 'b' at line 3`
            text = f"{error['type']}: {text}"
        return f"{text} at line {error['line']}" if error.get("line") else text
    return str(error)
