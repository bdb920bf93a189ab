"""The names a template sees (DSL.md section 5), built from the execution state."""

from __future__ import annotations

import re
from functools import cache
from typing import Any

from noetl_pg.dsl import SECRET_PLACEHOLDER, Playbook, Step
from noetl_pg.engine.state import ExecutionState, Iteration, LoopState

_SECRET_NAME = re.compile(r"secret\s*(?:\.\s*([A-Za-z_]\w*)|\[\s*['\"]([^'\"]+)['\"]\s*\])")


def build_scope(
    state: ExecutionState,
    *,
    args: dict[str, Any],
    event: dict[str, Any],
    loop: tuple[LoopState, Iteration] | None,
    extra: dict[str, Any],
) -> dict[str, Any]:
    """Context keys first, then step results, then the reserved names, which win."""
    scope: dict[str, Any] = {**state.ctx, **state.step_results}
    scope.update(
        workload=state.workload,
        ctx=state.ctx,
        args=args,
        event=event,
        execution_id=state.execution_id,
        secret=SECRET_PLACEHOLDER,
    )
    if loop is not None:
        loop_state, iteration = loop
        length = len(loop_state.items)
        scope[loop_state.iterator] = iteration.item
        scope["loop"] = {
            "index": iteration.index,
            "index0": iteration.index,
            "index1": iteration.index + 1,
            "first": iteration.index == 0,
            "last": iteration.index == length - 1,
            "length": length,
        }
    scope.update(extra)
    return scope


def tool_secrets(playbook: Playbook, step: Step) -> list[str]:
    """Secret names the step's tool templates mention: the only ones a worker may fill in,
    so a `{{ secret.X }}` smuggled in through response data cannot pull other secrets."""
    return _secrets_of(playbook, step.step)


@cache
def _secrets_cached(text: str) -> tuple[str, ...]:
    return tuple(sorted({a or b for a, b in _SECRET_NAME.findall(text)}))


def _secrets_of(playbook: Playbook, step_name: str) -> list[str]:
    step = playbook.step(step_name)
    tool = step.tool
    texts = [repr(tool.config())]
    if tool.kind == "workbook" and tool.workbook_task:
        texts.append(repr(playbook.workbook_tool(tool.workbook_task).config()))
    for entry in step.case:
        for then in entry.then:
            if then.call is not None:
                texts.append(repr(then.call))
    names: set[str] = set()
    for text in texts:
        if "secret" in text:
            names.update(_secrets_cached(text))
    return sorted(names)
