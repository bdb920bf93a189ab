"""The pure engine: (execution state, event, playbook) -> new state, commands, events.

No I/O happens here, so every rule of DSL.md sections 2-4 is testable without a database.
One external event can cascade through several internal ones (a `call.done` ends a step,
whose `step.exit` starts the next step, whose `step.enter` issues a command); all of
them are applied here, in order, and returned as already-applied events.
"""

from __future__ import annotations

import copy
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from noetl_pg.dsl import (
    Playbook,
    Retry,
    Sink,
    Step,
    TemplateError,
    Then,
    evaluate,
    evaluate_when,
    render_value,
)
from noetl_pg.engine.outcome import (
    CLIENT_EVENTS,
    Command,
    EmittedEvent,
    InputEvent,
    Outcome,
    ParentReport,
)
from noetl_pg.engine.scope import build_scope, tool_secrets
from noetl_pg.engine.state import (
    CANCELLED,
    COMPLETED,
    FAILED,
    RUNNING,
    SKIPPED,
    TERMINAL,
    ExecutionState,
    Iteration,
    LoopState,
    StepRun,
)

# Step entries one event may cause; a playbook whose steps skip into each other forever
# fails with a clear error instead of spinning inside one transaction.
MAX_CASCADE = 10_000
DEFAULT_LEASE_ATTEMPTS = 3


class EngineError(Exception):
    """An error in a step that fails it (template, loop input, limits)."""


@dataclass
class _Directive:
    """What the fired `then` actions ask of the current call."""

    call: dict[str, Any] | None = None
    retry: Retry | None = None
    fail: str | None = None
    skip: str | None = None


def apply_event(
    state: ExecutionState | None,
    event: InputEvent,
    playbook: Playbook | None,
    version: int = 0,
) -> Outcome:
    """Apply one event. `playbook` is the execution's playbook; for `workflow.start` it is
    the one the start payload names (None when not registered) and `version` its number."""
    if event.name not in CLIENT_EVENTS:
        return Outcome(
            state=state,
            error=(
                f"event {event.name!r} is written by the engine only; clients may write "
                f"{', '.join(CLIENT_EVENTS)}"
            ),
        )
    if event.name == "workflow.start":
        return _start(state, event, playbook, version)
    if state is None:
        return Outcome(state=None, error=f"no execution {event.execution_id!r} to apply it to")
    assert playbook is not None, "the daemon loads the playbook of an existing execution"
    applier = _Applier(state, playbook, event)
    if event.name == "workflow.cancel":
        applier.cancel(str(event.payload.get("reason") or "cancelled by request"))
    else:
        applier.call_done()
    return applier.outcome()


def _start(
    state: ExecutionState | None, event: InputEvent, playbook: Playbook | None, version: int
) -> Outcome:
    if state is not None:
        return Outcome(
            state=state, error=f"execution {event.execution_id!r} has already been started"
        )
    payload = event.payload or {}
    path = payload.get("path")
    if playbook is None:
        wanted = f"{path!r}" + (f" version {payload['version']}" if payload.get("version") else "")
        failed = ExecutionState(
            execution_id=event.execution_id,
            path=str(path) if path else "",
            version=0,
            status=FAILED,
            error=f"playbook {wanted} is not registered",
            parent=payload.get("parent"),
        )
        outcome = Outcome(state=failed)
        outcome.events.append(
            EmittedEvent("workflow.failed", None, FAILED, {"error": failed.error})
        )
        outcome.parent_report = _parent_report(failed)
        return outcome
    workload = payload.get("workload") or {}
    if not isinstance(workload, dict):
        return Outcome(state=None, error="workflow.start payload `workload` must be an object")
    new_state = ExecutionState(
        execution_id=event.execution_id,
        path=playbook.metadata.path,
        version=version,
        workload=_deep_merge(copy.deepcopy(playbook.workload), workload),
        parent=payload.get("parent"),
    )
    applier = _Applier(new_state, playbook, event)
    applier.schedule_enter("start", {})
    applier.drain()
    applier.finish_if_idle()
    return applier.outcome()


class _Applier:
    def __init__(self, state: ExecutionState, playbook: Playbook, event: InputEvent) -> None:
        self.state = state
        self.playbook = playbook
        self.event = event
        self.commands: list[Command] = []
        self.events: list[EmittedEvent] = []
        self.diagnostics: list[dict[str, Any]] = []
        self.cancel_pending = False
        self.parent_report: ParentReport | None = None
        self._entries: deque[tuple[str, dict[str, Any]]] = deque()
        self._cascade = 0
        self._filling: set[str] = set()  # loop runs whose fill_loop is on the stack

    def outcome(self) -> Outcome:
        return Outcome(
            state=self.state,
            commands=self.commands,
            events=self.events,
            diagnostics=self.diagnostics,
            cancel_pending=self.cancel_pending,
            parent_report=self.parent_report,
        )

    # --- events from outside -----------------------------------------------------------

    def cancel(self, reason: str) -> None:
        if self.state.status in TERMINAL:
            self.note(f"execution is already {self.state.status}; cancel ignored")
            return
        self.state.status = CANCELLED
        self.state.error = reason
        self.cancel_pending = True
        self.emit("workflow.cancelled", None, CANCELLED, {"reason": reason})
        self.parent_report = _parent_report(self.state)

    def call_done(self) -> None:
        payload = self.event.payload or {}
        key = self.state.command_for_queue_id(self.event.queue_id) or payload.get("run_key")
        command = self.state.commands.pop(key, None) if key else None
        if command is None:
            self.note(
                "call.done names no outstanding command of this execution "
                f"(queue_id={self.event.queue_id}, run_key={payload.get('run_key')!r}); "
                "a duplicate or a stale report: nothing changed"
            )
            return
        if self.state.status != RUNNING:
            self.note(f"execution is {self.state.status}; the result is recorded, nothing starts")
            return
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
        thens = self.fire(run, iteration, "call.done", extra, payload)
        directive = self.apply_thens(run, iteration, thens or [], extra, payload, "call.done")
        self.after_call(run, iteration, directive, handled=thens is not None, extra=extra)
        self.drain()
        self.finish_if_idle()

    def after_call(
        self,
        run: StepRun,
        iteration: Iteration,
        directive: _Directive,
        *,
        handled: bool,
        extra: dict[str, Any],
    ) -> None:
        error = extra.get("error")
        if directive.fail is not None:
            self.end_iteration(run, iteration, FAILED, {"kind": "fail", "message": directive.fail})
        elif directive.skip is not None:
            self.end_iteration(run, iteration, SKIPPED, None)
        elif directive.call is not None:
            self.issue_call(run, iteration, directive.call)
        elif directive.retry is not None and iteration.attempt < directive.retry.max_attempts:
            delay = directive.retry.delay_for(iteration.attempt)
            self.issue_call(run, iteration, None, delay=delay)
        elif error is not None and (not handled or directive.retry is not None):
            self.end_iteration(run, iteration, FAILED, error)
        else:
            if not iteration.result_set:
                iteration.result = extra.get("response")
            self.end_iteration(run, iteration, COMPLETED, None)

    # --- steps -------------------------------------------------------------------------

    def schedule_enter(self, step_name: str, passed_args: dict[str, Any]) -> None:
        self._entries.append((step_name, passed_args))

    def drain(self) -> None:
        while self._entries and self.state.status == RUNNING:
            self._cascade += 1
            if self._cascade > MAX_CASCADE:
                self.fail_execution(
                    f"more than {MAX_CASCADE} step entries caused by one event: the playbook "
                    "loops through steps that never call a tool"
                )
                return
            step_name, passed_args = self._entries.popleft()
            self.enter_step(step_name, passed_args)

    def enter_step(self, step_name: str, passed_args: dict[str, Any]) -> None:
        step = self.playbook.step(step_name)
        self.state.run_seq += 1
        run = StepRun(run_id=f"{step_name}#{self.state.run_seq}", step=step_name, args=passed_args)
        self.state.runs[run.run_id] = run
        try:
            if step.loop is None:
                self.start_iteration(run, 0, None)
                return
            items = self.loop_items(step, run)
        except (TemplateError, EngineError) as exc:
            self.exit_step(run, FAILED, None, {"kind": "template", "message": str(exc)})
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
        scope = self.scope(run, None)
        items = evaluate(source, scope) if isinstance(source, str) else render_value(source, scope)
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
                and self.state.status == RUNNING
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
            iteration.args = {**self.render(step.args, run, iteration), **run.args}
        except TemplateError as exc:
            self.end_iteration(run, iteration, FAILED, {"kind": "template", "message": str(exc)})
            return
        if run.loop is None:
            run.args = iteration.args
        payload: dict[str, Any] = {"args": iteration.args, "run": run.run_id}
        if run.loop is not None:
            payload["iteration"] = index
        self.emit("step.enter", run.step, None, payload)
        thens = self.fire(run, iteration, "step.enter", {}, payload)
        directive = self.apply_thens(run, iteration, thens or [], {}, payload, "step.enter")
        if directive.fail is not None:
            self.end_iteration(run, iteration, FAILED, {"kind": "fail", "message": directive.fail})
        elif directive.skip is not None:
            self.end_iteration(run, iteration, SKIPPED, None)
        else:
            self.issue_call(run, iteration, directive.call or {})

    def issue_call(
        self,
        run: StepRun,
        iteration: Iteration,
        overrides: dict[str, Any] | None,
        *,
        delay: float = 0.0,
    ) -> None:
        """Issue a call: a new one (`overrides` merged over the last config), or the same
        call again (`overrides` None: a retry)."""
        step = self.playbook.step(run.step)
        if iteration.calls >= step.max_iterations:
            self.end_iteration(
                run,
                iteration,
                FAILED,
                {
                    "kind": "max_iterations",
                    "message": (
                        f"step {run.step!r} reached max_iterations ({step.max_iterations} "
                        "calls); raise `max_iterations` on the step if more are expected"
                    ),
                },
            )
            return
        try:
            kind, config, args = self.tool_call(step, run, iteration)
            if overrides is None:
                config = iteration.config if iteration.config is not None else config
                iteration.attempt += 1
            else:
                base = iteration.config if iteration.config is not None else config
                config = _deep_merge(copy.deepcopy(base), overrides)
                iteration.attempt = 1
        except TemplateError as exc:
            self.end_iteration(run, iteration, FAILED, {"kind": "template", "message": str(exc)})
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
        self.commands.append(
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
            )
        )

    def tool_call(
        self, step: Step, run: StepRun, iteration: Iteration
    ) -> tuple[str, dict[str, Any], dict[str, Any]]:
        """The kind, rendered config and args of the step's tool (workbook resolved)."""
        tool = step.tool
        args = iteration.args
        if tool.kind == "workbook":
            task = tool.workbook_task
            own = tool.config()
            task_args = own.get("args", own.get("with", {}))
            scope = self.scope(run, iteration)
            args = {**args, **render_value(task_args, scope)}
            tool = self.playbook.workbook_tool(task)
            scope = {**scope, "args": args}
            return tool.kind, render_value(tool.config(), scope), args
        if iteration.config is not None:
            return tool.kind, iteration.config, args
        return tool.kind, self.render(tool.config(), run, iteration), args

    def command_context(self, step: Step, iteration: Iteration) -> dict[str, Any]:
        context: dict[str, Any] = {"iteration": iteration.index, "attempt": iteration.attempt}
        secrets = tool_secrets(self.playbook, step)
        if secrets:
            context["secrets"] = secrets
        return context

    def end_iteration(self, run: StepRun, iteration: Iteration, status: str, error: Any) -> None:
        iteration.status = status
        iteration.error = error
        if run.loop is None:
            result = iteration.result if iteration.result_set or status != FAILED else None
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
        if status == FAILED and not loop.failed:
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
        extra = {"result": result}
        payload = {"result": result}
        self.emit("loop.done", run.step, FAILED if loop.failed else COMPLETED, payload)
        thens = self.fire(run, None, "loop.done", extra, payload)
        directive = self.apply_thens(run, None, thens or [], extra, payload, "loop.done")
        status, error = (FAILED, loop.error) if loop.failed else (COMPLETED, None)
        if directive.fail is not None:
            status, error = FAILED, {"kind": "fail", "message": directive.fail}
        elif directive.skip is not None:
            status = SKIPPED
        self.exit_step(run, status, result, error)

    def exit_step(self, run: StepRun, status: str, result: Any, error: Any) -> None:
        if run.result_set:
            result = run.result
        extra: dict[str, Any] = {"result": result, "status": status}
        if error is not None:
            extra["error"] = error
        payload = dict(extra)
        thens = self.fire(run, None, "step.exit", extra, payload)
        directive = self.apply_thens(run, None, thens or [], extra, payload, "step.exit")
        if directive.fail is not None:
            status, error = FAILED, {"kind": "fail", "message": directive.fail}
        if run.result_set:
            result = run.result
        exit_payload: dict[str, Any] = {"result": result, "status": status, "run": run.run_id}
        if error is not None:
            exit_payload["error"] = error
        self.emit("step.exit", run.step, status, exit_payload)
        self.state.runs.pop(run.run_id, None)
        self.state.step_results[run.step] = result
        self.state.last_result = result
        if run.next_fired:
            targets = run.next_fired
        elif status == FAILED:
            targets = []
            self.state.failures.append({"step": run.step, "error": _message(error)})
        else:
            step = self.playbook.step(run.step)
            scope = self.scope(run, None, extra)
            try:
                targets = [{"step": t.step, "args": render_value(t.args, scope)} for t in step.next]
            except TemplateError as exc:
                self.state.failures.append({"step": run.step, "error": f"next args: {exc}"})
                targets = []
        for target in targets:
            self.schedule_enter(target["step"], target["args"])

    # --- rules -------------------------------------------------------------------------

    def fire(
        self,
        run: StepRun,
        iteration: Iteration | None,
        event_name: str,
        extra: dict[str, Any],
        payload: dict[str, Any],
    ) -> list[Then] | None:
        """The `then` list of the first case entry whose `when` holds, or None."""
        step = self.playbook.step(run.step)
        if not step.case:
            return None
        scope = self.scope(run, iteration, extra, event_name, payload)
        for index, entry in enumerate(step.case):
            holds, reason = evaluate_when(entry.when, scope)
            if reason is not None:
                self.diagnostics.append(
                    {"step": run.step, "case": index, "event": event_name, "reason": reason}
                )
            if holds:
                return entry.then
        return None

    def apply_thens(
        self,
        run: StepRun,
        iteration: Iteration | None,
        thens: list[Then],
        extra: dict[str, Any],
        payload: dict[str, Any],
        event_name: str,
    ) -> _Directive:
        directive = _Directive()

        def scope() -> dict[str, Any]:
            return self.scope(run, iteration, extra, event_name, payload)

        try:
            for then in thens:
                self.apply_then(run, iteration, then, scope, directive)
        except (TemplateError, EngineError) as exc:
            directive.fail = f"step {run.step!r}, rule on {event_name}: {exc}"
        return directive

    def apply_then(
        self,
        run: StepRun,
        iteration: Iteration | None,
        then: Then,
        scope: Callable[[], dict[str, Any]],
        directive: _Directive,
    ) -> None:
        if then.set is not None:
            updates = render_value(then.set, scope())
            for key, value in updates.items():
                if key == "ctx" and isinstance(value, dict):
                    self.state.ctx.update(value)
                else:
                    self.state.ctx[key] = value
        if then.collect is not None:
            self.collect(then.collect.from_, then.collect.into, then.collect.mode, scope())
        if then.result is not None:
            action = then.result
            value = (
                evaluate(action.from_, scope())
                if action.from_ is not None
                else render_value(action.value, scope())
            )
            target: Iteration | StepRun = iteration if iteration is not None else run
            target.result, target.result_set = value, True
        if then.call is not None:
            directive.call = render_value(then.call, scope())
        if then.retry is not None:
            directive.retry = then.retry
        if then.next is not None:
            rendered_scope = scope()
            for target_step in then.next:
                run.next_fired.append(
                    {
                        "step": target_step.step,
                        "args": render_value(target_step.args, rendered_scope),
                    }
                )
        if then.fail is not None:
            directive.fail = str(render_value(then.fail.message, scope()))
        if then.skip is not None:
            directive.skip = str(render_value(then.skip.reason, scope()))
        if then.sink is not None:
            self.issue_sink(run, then.sink, scope())

    def collect(self, source: str, into: str, mode: str, scope: dict[str, Any]) -> None:
        value = evaluate(source, scope)
        if mode == "replace":
            self.state.ctx[into] = value
            return
        current = self.state.ctx.get(into)
        current = [] if current is None else current
        if not isinstance(current, list):
            raise EngineError(f"collect into {into!r}: ctx.{into} is not a list")
        if mode == "extend":
            if not isinstance(value, list | tuple):
                raise EngineError(
                    f"collect mode extend needs a list from {source!r}, got {type(value).__name__}"
                )
            current = [*current, *value]
        else:
            current = [*current, value]
        self.state.ctx[into] = current

    def issue_sink(self, run: StepRun, sink: Sink, scope: dict[str, Any]) -> None:
        """Run another tool on this step's data, as its own command."""
        kind = sink.tool.kind
        rendered_args = render_value(sink.args, scope)
        rendered_config = render_value(sink.tool.config(), {**scope, "args": rendered_args})
        self.state.sink_seq += 1
        run_key = f"{run.run_id}/sink/{self.state.sink_seq}"
        self.enqueue(
            run, run_key, {"kind": "sink"}, kind, rendered_config, rendered_args, {"sink": True}
        )

    # --- helpers -----------------------------------------------------------------------

    def scope(
        self,
        run: StepRun | None,
        iteration: Iteration | None,
        extra: dict[str, Any] | None = None,
        event_name: str | None = None,
        payload: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        loop = None
        if run is not None and run.loop is not None and iteration is not None:
            loop = (run.loop, iteration)
        if iteration is not None and iteration.status == RUNNING and iteration.args:
            args = iteration.args
        else:
            args = run.args if run is not None else {}
        return build_scope(
            self.state,
            args=args,
            event={
                "name": event_name or self.event.name,
                "step": run.step if run is not None else self.event.step,
                "payload": payload if payload is not None else self.event.payload,
            },
            loop=loop,
            extra=extra or {},
        )

    def render(self, value: Any, run: StepRun, iteration: Iteration | None) -> Any:
        return render_value(value, self.scope(run, iteration, None, "step.enter", {}))

    def emit(
        self, name: str, step: str | None, status: str | None, payload: dict[str, Any]
    ) -> None:
        self.events.append(EmittedEvent(name, step, status, payload))

    def note(self, message: str) -> None:
        self.diagnostics.append({"note": message})

    def fail_execution(self, message: str) -> None:
        self.state.failures.append({"step": None, "error": message})
        self.state.runs.clear()
        self.state.commands.clear()
        self.cancel_pending = True
        self.complete()

    def finish_if_idle(self) -> None:
        if self.state.status == RUNNING and not self.state.runs and not self.state.commands:
            self.complete()

    def complete(self) -> None:
        state = self.state
        state.result = state.last_result
        if state.failures:
            state.status = FAILED
            state.error = "; ".join(
                f"step {f['step']!r}: {f['error']}" if f["step"] else str(f["error"])
                for f in state.failures
            )
            self.emit(
                "workflow.failed",
                None,
                FAILED,
                {"error": state.error, "failures": state.failures, "result": state.result},
            )
        else:
            state.status = COMPLETED
            self.emit("workflow.complete", None, COMPLETED, {"result": state.result})
        self.parent_report = _parent_report(state)


def _parent_report(state: ExecutionState) -> ParentReport | None:
    parent = state.parent
    if not parent or parent.get("queue_id") is None:
        return None
    if state.status == COMPLETED:
        return ParentReport(
            parent["execution_id"], int(parent["queue_id"]), True, {"response": state.result}
        )
    return ParentReport(
        parent["execution_id"],
        int(parent["queue_id"]),
        False,
        {
            "error": {
                "kind": "playbook",
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


def _message(error: Any) -> str:
    if isinstance(error, dict):
        return str(error.get("message") or error)
    return str(error)
