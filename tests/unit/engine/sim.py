"""A database-free driver of the pure engine: it plays the worker's part by hand."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from noetl_pg.dsl import parse_playbook
from noetl_pg.engine.compiled import CompiledPlaybook
from noetl_pg.engine.core import apply_event
from noetl_pg.engine.reaction import Command, InputEvent, Reaction

Responder = Callable[[Command], tuple[Any, Any]]  # -> (response, error)


class Sim:
    def __init__(
        self,
        yaml_text: str,
        workload: dict[str, Any] | None = None,
        parent: dict[str, Any] | None = None,
    ) -> None:
        self.playbook = CompiledPlaybook.of(parse_playbook(yaml_text), 1)
        self.state = None
        self.log: list[tuple[str, str | None, Any]] = []  # (event name, step, payload)
        self.pending: dict[int, Command] = {}
        self.issued: list[Command] = []
        self.diagnostics: list[dict[str, Any]] = []
        self.refusals: list[str] = []
        self.last: Reaction | None = None  # the reaction to the last event sent
        self._event_id = 0
        self._queue_id = 0
        payload: dict[str, Any] = {"path": self.playbook.playbook.metadata.path}
        if workload is not None:
            payload["workload"] = workload
        if parent is not None:
            payload["parent"] = parent
        self.send("workflow.start", payload)

    def send(self, name: str, payload: dict[str, Any], run_key: str | None = None) -> Reaction:
        """Apply one event; `run_key` is the command a call.done reports on (the daemon
        takes it from the queue row the event names)."""
        self._event_id += 1
        event = InputEvent(self._event_id, "exec-1", name, None, payload, run_key)
        reaction = apply_event(self.state, event, self.playbook)
        self.last = reaction
        if reaction.error:
            self.refusals.append(reaction.error)
            return reaction
        self.log.append((name, None, payload))
        self.state = reaction.state
        self.diagnostics.extend(reaction.diagnostics)
        for emitted in reaction.events:
            self.log.append((emitted.name, emitted.step, emitted.payload))
        for command in reaction.commands:
            self._queue_id += 1
            self.pending[self._queue_id] = command
            self.issued.append(command)
        if reaction.cancel_pending:
            self.pending.clear()
        return reaction

    def complete(self, response: Any = None, error: Any = None, step: str | None = None) -> None:
        """Report the oldest pending command (of `step`, if given)."""
        queue_id = next(q for q, c in self.pending.items() if step is None or c.step == step)
        self._answer(queue_id, response, error)

    def run(self, responder: Responder, limit: int = 10_000) -> None:
        """Answer commands, oldest first, until none is pending."""
        for _ in range(limit):
            if not self.pending:
                return
            queue_id = next(iter(self.pending))
            command = self.pending[queue_id]
            response, error = responder(command)
            self._answer(queue_id, response, error)
        raise AssertionError("the simulation did not finish")

    def _answer(self, queue_id: int, response: Any, error: Any) -> None:
        command = self.pending.pop(queue_id)
        payload = {"error": error} if error is not None else {"response": response}
        self.send("call.done", payload, command.run_key)

    def names(self, step: str | None = None) -> list[str]:
        return [name for name, s, _ in self.log if step is None or s == step]

    def exits(self) -> list[tuple[str, str]]:
        return [(s, p["status"]) for name, s, p in self.log if name == "step.exit"]

    @property
    def status(self) -> str:
        return self.state.status


def echo_args(command: Command) -> tuple[Any, Any]:
    """Like the noop tool: the response is the command's args."""
    return command.args, None


def playbook(*steps: str, workload: str = "", workbook: str = "") -> str:
    body = "\n".join(steps)
    return (
        "apiVersion: noetl.io/v2\nkind: Playbook\nmetadata:\n  name: t\n  path: tests/t\n"
        + (f"workload:\n{workload}\n" if workload else "")
        + (f"workbook:\n{workbook}\n" if workbook else "")
        + "workflow:\n"
        + body
    )
