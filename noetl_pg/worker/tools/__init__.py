"""The tools a worker runs, by kind: one module each, one interface (see `base`)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from noetl_pg.worker.tools import http, noop, playbook, postgres, python
from noetl_pg.worker.tools.base import Deferred, Reported, Resources, ToolContext, ToolError

Tool = Callable[[dict[str, Any], dict[str, Any], ToolContext], Awaitable[Any]]

TOOLS: dict[str, Tool] = {
    "http": http.run,
    "postgres": postgres.run,
    "python": python.run,
    "playbook": playbook.run,
    "noop": noop.run,
}

__all__ = ["TOOLS", "Deferred", "Reported", "Resources", "Tool", "ToolContext", "ToolError"]
