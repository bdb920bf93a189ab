"""The `then` actions of DSL.md section 3: one handler per action, applied from one table
in the order the DSL gives them. A handler writes what its action means (ctx, a result,
`next` targets) or records what it asks of the current call; the core acts on that."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from noetl_pg.dsl import (
    Collect,
    Fail,
    NextTarget,
    ResultAction,
    Retry,
    Sink,
    Skip,
    Then,
    evaluate,
    render_value,
)
from noetl_pg.engine.scope import Scope
from noetl_pg.engine.state import Iteration, StepRun
from noetl_pg.protocol import ErrorKind, StepStatus


class EngineError(Exception):
    """An error in a step that fails it (template, loop input, limits)."""


@dataclass(frozen=True)
class SinkCall:
    """A `sink` action, rendered: a command of its own, issued by the core."""

    kind: str
    config: dict[str, Any]
    args: dict[str, Any]


@dataclass
class Firing:
    """One step run's reaction to one event: the scope its rules see, and what the fired
    `then` actions ask of the current call."""

    run: StepRun
    iteration: Iteration | None
    scope: Scope
    fired: bool = False  # a case entry's `when` held
    call: dict[str, Any] | None = None
    retry: Retry | None = None
    fail: str | None = None
    skip: str | None = None
    sinks: list[SinkCall] = field(default_factory=list)

    def verdict(self) -> tuple[StepStatus, Any] | None:
        """How a fired `fail` or `skip` ends the current iteration: (status, error)."""
        if self.fail is not None:
            return StepStatus.FAILED, {"kind": ErrorKind.FAIL, "message": self.fail}
        if self.skip is not None:
            return StepStatus.SKIPPED, None
        return None


def apply_actions(firing: Firing, thens: list[Then]) -> None:
    """Apply each `then` mapping in turn, its actions in the table's order."""
    for then in thens:
        for name, handler in ACTIONS.items():
            value = getattr(then, name)
            if value is not None:
                handler(firing, value)


def _set(firing: Firing, updates: dict[str, Any]) -> None:
    for key, value in render_value(updates, firing.scope.names).items():
        if key == "ctx" and isinstance(value, dict):
            for ctx_key, ctx_value in value.items():
                firing.scope.write_ctx(ctx_key, ctx_value)
        else:
            firing.scope.write_ctx(key, value)


def _collect(firing: Firing, action: Collect) -> None:
    value = evaluate(action.from_, firing.scope.names)
    into = action.into
    if action.mode == "replace":
        firing.scope.write_ctx(into, value)
        return
    current = firing.scope.ctx.get(into)
    current = [] if current is None else current
    if not isinstance(current, list):
        raise EngineError(f"collect into {into!r}: ctx.{into} is not a list")
    if action.mode == "extend":
        if not isinstance(value, list | tuple):
            raise EngineError(
                f"collect mode extend needs a list from {action.from_!r}, "
                f"got {type(value).__name__}"
            )
        firing.scope.write_ctx(into, [*current, *value])
    else:
        firing.scope.write_ctx(into, [*current, value])


def _result(firing: Firing, action: ResultAction) -> None:
    names = firing.scope.names
    value = (
        evaluate(action.from_, names)
        if action.from_ is not None
        else render_value(action.value, names)
    )
    target: Iteration | StepRun = firing.iteration if firing.iteration is not None else firing.run
    target.result, target.result_set = value, True


def _call(firing: Firing, overrides: dict[str, Any]) -> None:
    firing.call = render_value(overrides, firing.scope.names)


def _retry(firing: Firing, policy: Retry) -> None:
    firing.retry = policy


def _next(firing: Firing, targets: list[NextTarget]) -> None:
    names = firing.scope.names
    for target in targets:
        firing.run.next_fired.append(
            {"step": target.step, "args": render_value(target.args, names)}
        )


def _fail(firing: Firing, action: Fail) -> None:
    firing.fail = str(render_value(action.message, firing.scope.names))


def _skip(firing: Firing, action: Skip) -> None:
    firing.skip = str(render_value(action.reason, firing.scope.names))


def _sink(firing: Firing, sink: Sink) -> None:
    """Run another tool on this step's data, as its own command."""
    args = render_value(sink.args, firing.scope.names)
    config = render_value(sink.tool.config(), firing.scope.with_args(args))
    firing.sinks.append(SinkCall(sink.tool.kind, config, args))


# Action name -> handler, in the order of DSL.md section 3 (a test holds it to
# `THEN_ACTIONS` and to the fields of `Then`).
ACTIONS: dict[str, Callable[[Firing, Any], None]] = {
    "set": _set,
    "collect": _collect,
    "result": _result,
    "call": _call,
    "retry": _retry,
    "next": _next,
    "fail": _fail,
    "skip": _skip,
    "sink": _sink,
}
