"""`playbook`: start a child execution and leave the command waiting for it.

The child's execution_id is derived from the parent command, so a retried lease finds
the child already started instead of starting a second one. The engine finishes the
waiting command (and writes the parent's call.done) when the child ends.
"""

from __future__ import annotations

import hashlib
from typing import Any

from noetl_pg.worker.tools.base import Deferred, ToolContext, ToolError


def child_execution_id(parent_execution_id: str, queue_id: int) -> str:
    digest = hashlib.md5(f"{parent_execution_id}:{queue_id}".encode()).hexdigest()
    return f"exec-{digest[:32]}"


async def run(config: dict[str, Any], args: dict[str, Any], ctx: ToolContext) -> Any:
    path = config.get("path")
    if not path or not isinstance(path, str):
        raise ToolError("config", "playbook tool needs `path` (the child playbook)")
    payload: dict[str, Any] = {
        "path": path,
        "workload": args if args else (config.get("args") or {}),
        "parent": {
            "execution_id": ctx.execution_id,
            "queue_id": ctx.queue_id,
            "step": ctx.step,
            "run_key": ctx.run_key,
        },
    }
    if config.get("version") is not None:
        payload["version"] = config["version"]
    child_id = child_execution_id(ctx.execution_id, ctx.queue_id)
    started = await ctx.resources.queue.start_child_playbook(ctx.lease, child_id, payload)
    if not started.held:
        return Deferred("lease lost before the child playbook could start")
    if started.event_id is None:
        return Deferred(f"child execution {child_id} was already started")
    return Deferred(f"started child execution {child_id}")
