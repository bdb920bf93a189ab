"""`workbook`: call a named entry of the playbook's `workbook`, with extra args.

The engine resolves it to the entry's own tool before any command is queued, so no
worker runs this kind: it has a config model and no `run`.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, model_validator

from noetl_pg.protocol.tool_config import Templated, ToolConfig
from noetl_pg.worker.tool import ToolKind


class WorkbookConfig(ToolConfig):
    kind: Literal["workbook"] = "workbook"
    task: str | None = None
    name: str | None = None  # another name for task
    args: Templated[dict[str, Any]] | None = None
    with_: Templated[dict[str, Any]] | None = Field(default=None, alias="with")  # v1's args

    @model_validator(mode="after")
    def _names_an_entry(self) -> WorkbookConfig:
        if not self.task and not self.name:
            raise ValueError("workbook tool needs `task` (or `name`): a workbook entry name")
        return self


KIND = ToolKind(config=WorkbookConfig)
