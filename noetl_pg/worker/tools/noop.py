"""`noop`: does nothing; its response is its args."""

from __future__ import annotations

from typing import Any

from noetl_pg.worker.tools.base import ToolContext


async def run(config: dict[str, Any], args: dict[str, Any], ctx: ToolContext) -> Any:
    return args
