"""`noop`: does nothing; its response is its args.

The one kind that takes any fields: it ignores them, so a step can stand in for a tool
not written yet (the v1 migration keeps a tool with no v2 kind this way) and tests can
watch how fields render.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import ConfigDict

from noetl_pg.protocol.tool_config import ToolConfig
from noetl_pg.worker.tool import ToolContext, ToolKind


class NoopConfig(ToolConfig):
    model_config = ConfigDict(extra="allow")

    kind: Literal["noop"] = "noop"


async def run(config: NoopConfig, args: dict[str, Any], ctx: ToolContext[None]) -> Any:
    return args


KIND = ToolKind(config=NoopConfig, run=run)
