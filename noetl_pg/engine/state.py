"""The state of one execution, as the pure engine sees it, and its JSON form.

User-visible parts (workload, context, step results, status, result, error) are stored in
their own `noetl.execution` columns; the engine's bookkeeping (active step runs, loops,
outstanding commands) goes to the `state` column. Both round-trip through `to_row()` and
`from_row()`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from noetl_pg.protocol import ExecutionStatus, StepStatus


@dataclass
class Iteration:
    """One pass of a step: the whole step when it has no loop, else one loop item."""

    index: int
    item: Any = None
    args: dict[str, Any] = field(default_factory=dict)
    calls: int = 0  # calls issued so far (the max_iterations guard)
    attempt: int = 0  # calls of the current "same call" (what retry counts)
    config: dict[str, Any] | None = None  # rendered config of the last call
    result: Any = None
    result_set: bool = False
    status: StepStatus = StepStatus.RUNNING
    error: Any = None

    def to_json(self) -> dict[str, Any]:
        return dict(self.__dict__)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Iteration:
        return cls(**{**data, "status": StepStatus(data["status"])})


@dataclass
class LoopState:
    items: list[Any]
    iterator: str
    mode: str
    max_in_flight: int
    next_index: int = 0
    finished: int = 0
    results: list[Any] = field(default_factory=list)
    failed: bool = False
    error: Any = None

    @property
    def in_flight(self) -> int:
        return self.next_index - self.finished

    def to_json(self) -> dict[str, Any]:
        return dict(self.__dict__)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> LoopState:
        return cls(**data)


@dataclass
class StepRun:
    """One entry into a step, from `step.enter` to `step.exit`."""

    run_id: str
    step: str
    args: dict[str, Any]
    next_fired: list[dict[str, Any]] = field(default_factory=list)
    result: Any = None
    result_set: bool = False
    loop: LoopState | None = None
    iterations: dict[int, Iteration] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {
            "run_id": self.run_id,
            "step": self.step,
            "args": self.args,
            "next_fired": self.next_fired,
            "result": self.result,
            "result_set": self.result_set,
            "loop": self.loop.to_json() if self.loop else None,
            "iterations": {str(k): v.to_json() for k, v in self.iterations.items()},
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> StepRun:
        return cls(
            run_id=data["run_id"],
            step=data["step"],
            args=data["args"],
            next_fired=data["next_fired"],
            result=data["result"],
            result_set=data["result_set"],
            loop=LoopState.from_json(data["loop"]) if data["loop"] else None,
            iterations={int(k): Iteration.from_json(v) for k, v in data["iterations"].items()},
        )


@dataclass
class ExecutionState:
    execution_id: str
    path: str
    version: int
    status: ExecutionStatus = ExecutionStatus.RUNNING
    workload: dict[str, Any] = field(default_factory=dict)
    ctx: dict[str, Any] = field(default_factory=dict)
    step_results: dict[str, Any] = field(default_factory=dict)
    runs: dict[str, StepRun] = field(default_factory=dict)
    # run_key -> {"run_id", "step", "iteration", "kind": "call" | "sink"}; a call.done
    # finds its command by the run_key of its queue row
    commands: dict[str, dict[str, Any]] = field(default_factory=dict)
    run_seq: int = 0
    sink_seq: int = 0
    failures: list[dict[str, Any]] = field(default_factory=list)
    last_result: Any = None
    result: Any = None
    error: str | None = None
    parent: dict[str, Any] | None = None
    priority: int = 0  # the start payload's; each command adds its step's

    @property
    def active_steps(self) -> list[str]:
        seen: list[str] = []
        for run in self.runs.values():
            if run.step not in seen:
                seen.append(run.step)
        return seen

    def internal_json(self) -> dict[str, Any]:
        """The engine's bookkeeping, stored in `noetl.execution.state`."""
        return {
            "runs": {k: v.to_json() for k, v in self.runs.items()},
            "commands": self.commands,
            "run_seq": self.run_seq,
            "sink_seq": self.sink_seq,
            "failures": self.failures,
            "last_result": self.last_result,
            "parent": self.parent,
            "priority": self.priority,
        }

    @classmethod
    def from_row(cls, row: dict[str, Any]) -> ExecutionState:
        internal = row.get("state") or {}
        return cls(
            execution_id=row["execution_id"],
            path=row["path"],
            version=row["version"],
            status=ExecutionStatus(row["status"]),
            workload=row["workload"] or {},
            ctx=row["context"] or {},
            step_results=row["step_results"] or {},
            runs={k: StepRun.from_json(v) for k, v in internal.get("runs", {}).items()},
            commands=internal.get("commands", {}),
            run_seq=internal.get("run_seq", 0),
            sink_seq=internal.get("sink_seq", 0),
            failures=internal.get("failures", []),
            last_result=internal.get("last_result"),
            result=row.get("result"),
            error=row.get("error"),
            parent=internal.get("parent"),
            priority=internal.get("priority", 0),
        )
