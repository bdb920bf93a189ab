"""The names a template sees (DSL.md section 5), built from the execution state."""

from __future__ import annotations

import re
from typing import Any

from noetl_pg.dsl import SECRET_PLACEHOLDER, Playbook, Step
from noetl_pg.engine.state import ExecutionState, Iteration, LoopState

_SECRET_NAME = re.compile(r"secret\s*(?:\.\s*([A-Za-z_]\w*)|\[\s*['\"]([^'\"]+)['\"]\s*\])")


class Scope:
    """The template scope of one event of one step run: built on first use, once, and kept
    current as that event's actions write ctx keys and step results, so a later action
    (or the tool config rendered after the rules) sees what an earlier one wrote.

    Precedence: plain ctx keys, then step results, then the reserved names, which win."""

    def __init__(
        self,
        state: ExecutionState,
        *,
        args: dict[str, Any],
        event: dict[str, Any],
        loop: tuple[LoopState, Iteration] | None = None,
        extra: dict[str, Any] | None = None,
    ) -> None:
        self._state = state
        self._args = args
        self._event = event
        self._loop = loop
        self._extra = extra or {}
        self._names: dict[str, Any] | None = None
        self._reserved: frozenset[str] = frozenset()

    @property
    def names(self) -> dict[str, Any]:
        if self._names is None:
            reserved = self._reserved_names()
            self._reserved = frozenset(reserved)
            self._names = {**self._state.ctx, **self._state.step_results, **reserved}
        return self._names

    @property
    def ctx(self) -> dict[str, Any]:
        return self._state.ctx

    def write_ctx(self, key: str, value: Any) -> None:
        self._state.ctx[key] = value
        if (
            self._names is not None
            and key not in self._reserved
            and key not in self._state.step_results
        ):
            self._names[key] = value

    def write_step_result(self, step: str, value: Any) -> None:
        self._state.step_results[step] = value
        if self._names is not None and step not in self._reserved:
            self._names[step] = value

    def with_args(self, args: dict[str, Any]) -> dict[str, Any]:
        """These names with `args` replaced (a workbook task's or a sink's own args)."""
        return {**self.names, "args": args}

    def _reserved_names(self) -> dict[str, Any]:
        state = self._state
        reserved: dict[str, Any] = {
            "workload": state.workload,
            "ctx": state.ctx,
            "args": self._args,
            "event": self._event,
            "execution_id": state.execution_id,
            "secret": SECRET_PLACEHOLDER,
        }
        if self._loop is not None:
            loop_state, iteration = self._loop
            length = len(loop_state.items)
            reserved[loop_state.iterator] = iteration.item
            reserved["loop"] = {
                "index": iteration.index,
                "index0": iteration.index,
                "index1": iteration.index + 1,
                "first": iteration.index == 0,
                "last": iteration.index == length - 1,
                "length": length,
            }
        reserved.update(self._extra)
        return reserved


def step_secrets(playbook: Playbook, step: Step) -> list[str]:
    """Secret names the step's tool templates and its own `args` mention: the only ones a
    worker may fill in, so a `{{ secret.X }}` smuggled in through response data cannot pull
    other secrets."""
    tool = step.tool
    texts = [repr(tool.config()), repr(step.args)]
    if tool.kind == "workbook" and tool.workbook_task:
        texts.append(repr(playbook.workbook_tool(tool.workbook_task).config()))
    for entry in step.case:
        for then in entry.then:
            if then.call is not None:
                texts.append(repr(then.call))
    return sorted({a or b for text in texts for a, b in _SECRET_NAME.findall(text)})
