"""`playbook`: start a child execution and leave the command waiting for it.

The child's execution_id is derived from the parent command, so a retried lease finds
the child already started instead of starting a second one. The engine finishes the
waiting command (and writes the parent's call.done) when the child ends.
"""

from __future__ import annotations

import hashlib
from typing import Any, Literal

from pydantic import Field

from noetl_pg.protocol.tool_config import Templated, ToolConfig
from noetl_pg.worker.tool import Deferred, ToolContext, ToolKind


class PlaybookConfig(ToolConfig):
    kind: Literal["playbook"] = "playbook"
    path: str = Field(description="the catalog path of the child playbook")
    version: str | int | None = None
    args: Templated[dict[str, Any]] | None = None  # the child's workload, without step args


def child_execution_id(parent_execution_id: str, queue_id: int) -> str:
    digest = hashlib.md5(f"{parent_execution_id}:{queue_id}".encode()).hexdigest()
    return f"exec-{digest[:32]}"


async def run(config: PlaybookConfig, args: dict[str, Any], ctx: ToolContext[None]) -> Any:
    payload: dict[str, Any] = {
        "path": config.path,
        "workload": args if args else (config.args or {}),
        "parent": {
            "execution_id": ctx.execution_id,
            "queue_id": ctx.queue_id,
            "step": ctx.step,
            "run_key": ctx.run_key,
        },
    }
    if config.version is not None:
        payload["version"] = config.version
    child_id = child_execution_id(ctx.execution_id, ctx.queue_id)
    started = await ctx.queue.start_child_playbook(ctx.lease, child_id, payload)
    if not started.held:
        return Deferred("lease lost before the child playbook could start")
    if started.event_id is None:
        return Deferred(f"child execution {child_id} was already started")
    return Deferred(f"started child execution {child_id}")


KIND = ToolKind(config=PlaybookConfig, run=run)
