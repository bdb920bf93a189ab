"""What an execution looks like from outside: `get_state(execution_id)`.

The attribute names are those users of the v2 integration guide know (`current_step`,
`step_results`, `context`, `workflow_status`), read from PostgreSQL with the same query as
`GET /api/v2/executions/{id}`. (The engine's own, richer state is
`noetl_pg.engine.state.ExecutionState`; this is the read model users see.)
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any

from noetl_pg.protocol import ExecutionStatus
from noetl_pg.store.config import resolve_dsn
from noetl_pg.store.db import connect_async
from noetl_pg.store.executions import ExecutionReader


@dataclass(frozen=True)
class ExecutionView:
    execution_id: str
    path: str | None
    status: ExecutionStatus
    current_steps: list[str] = field(default_factory=list)
    step_results: dict[str, Any] = field(default_factory=dict)
    context: dict[str, Any] = field(default_factory=dict)
    result: Any = None
    error: str | None = None
    warnings: list[dict[str, Any]] = field(default_factory=list)

    @property
    def workflow_status(self) -> ExecutionStatus:
        return self.status

    @property
    def current_step(self) -> str | None:
        return self.current_steps[0] if self.current_steps else None

    @classmethod
    def from_row(cls, row: dict[str, Any]) -> ExecutionView:
        return cls(
            execution_id=row["execution_id"],
            path=row["path"],
            status=ExecutionStatus(row["status"]),
            current_steps=list(row["current_steps"] or []),
            step_results=dict(row["step_results"] or {}),
            context=dict(row["context"] or {}),
            result=row["result"],
            error=row["error"],
            warnings=[_worded(w) for w in row.get("warnings") or []],
        )

    def to_dict(self) -> dict[str, Any]:
        """Exactly the keys of `GET /api/v2/executions/{id}`."""
        return {
            "execution_id": self.execution_id,
            "path": self.path,
            "status": self.status,
            "current_steps": list(self.current_steps),
            "step_results": self.step_results,
            "context": self.context,
            "result": self.result,
            "error": self.error,
            "warnings": list(self.warnings),
        }


def diagnostic_message(diagnostic: dict[str, Any]) -> str:
    """One line a person can read for one engine diagnostic (`noetl.event.diagnostic`)."""
    if "reason" in diagnostic:
        return (
            f"step {diagnostic.get('step')!r}, case {diagnostic.get('case')} on "
            f"{diagnostic.get('event')}: {diagnostic['reason']}"
        )
    return str(diagnostic.get("message") or diagnostic.get("note") or diagnostic)


def _worded(warning: dict[str, Any]) -> dict[str, Any]:
    """A warning as the API and the CLI show it: where, what kind, and its message."""
    diagnostic = warning.get("diagnostic") or {}
    return {
        "event_id": warning["event_id"],
        "event": warning["event"],
        "step": warning.get("step"),
        "kind": warning["kind"],
        "message": diagnostic_message(diagnostic),
    }


async def read_state(execution_id: str, dsn: str | None = None) -> ExecutionView | None:
    """`get_state` for code that already runs an event loop."""
    conn = await connect_async(
        await asyncio.to_thread(resolve_dsn, dsn),
        autocommit=True,
        application_name="noetl-get-state",
    )
    async with conn:
        row = await ExecutionReader(conn).state_of(execution_id)
    return ExecutionView.from_row(row) if row else None


def get_state(execution_id: str, dsn: str | None = None) -> ExecutionView | None:
    """The state of one execution, or None when there is no such execution.

    Before an engine has applied its `workflow.start`, an execution reads as `pending`;
    a start the engine refused reads as `failed` with the engine's reason in `error`.
    The guide's API is synchronous; inside a running event loop, await `read_state`.
    """
    return asyncio.run(read_state(execution_id, dsn))
