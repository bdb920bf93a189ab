"""A database-free driver of the pure engine: it plays the worker's part by hand."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from noetl_pg.dsl import parse_playbook
from noetl_pg.engine.core import apply_event
from noetl_pg.engine.outcome import Command, InputEvent, Outcome

Responder = Callable[[Command], tuple[Any, Any]]  # -> (response, error)


class Sim:
    def __init__(self, yaml_text: str, workload: dict[str, Any] | None = None) -> None:
        self.playbook = parse_playbook(yaml_text)
        self.state = None
        self.log: list[tuple[str, str | None, Any]] = []  # (event name, step, payload)
        self.pending: dict[int, Command] = {}
        self.issued: list[Command] = []
        self.diagnostics: list[dict[str, Any]] = []
        self.refusals: list[str] = []
        self._event_id = 0
        self._queue_id = 0
        payload: dict[str, Any] = {"path": self.playbook.metadata.path}
        if workload is not None:
            payload["workload"] = workload
        self.send("workflow.start", payload)

    def send(self, name: str, payload: dict[str, Any], queue_id: int | None = None) -> Outcome:
        self._event_id += 1
        event = InputEvent(self._event_id, "exec-1", name, None, payload, queue_id)
        outcome = apply_event(self.state, event, self.playbook, 1)
        if outcome.error:
            self.refusals.append(outcome.error)
            return outcome
        self.log.append((name, None, payload))
        self.state = outcome.state
        self.diagnostics.extend(outcome.diagnostics)
        for emitted in outcome.events:
            self.log.append((emitted.name, emitted.step, emitted.payload))
        for command in outcome.commands:
            self._queue_id += 1
            self.state.commands[command.run_key]["queue_id"] = self._queue_id
            self.pending[self._queue_id] = command
            self.issued.append(command)
        if outcome.cancel_pending:
            self.pending.clear()
        return outcome

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
        payload["run_key"] = command.run_key
        self.send("call.done", payload, queue_id)

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
