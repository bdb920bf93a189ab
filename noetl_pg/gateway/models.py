"""Request bodies (pydantic v2), one model per client event on the wire. Unknown fields
are refused so typos surface as 422. These models are also the document's schemas."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from noetl_pg.protocol import EventName
from noetl_pg.protocol.client import (
    EXECUTION_ID_MAX,
    INT4_MAX,
    INT8_MAX,
    CallDonePayload,
    CancelPayload,
)


def _start_forms(schema: dict[str, Any]) -> None:
    """A start gives its playbook at the top level or in `payload`, not both ways."""
    _without_nulls(schema)
    schema["oneOf"] = [
        {"required": ["path"], "not": {"required": ["payload"]}},
        {
            "required": ["payload"],
            "properties": {"payload": {"required": ["path"]}},
            "not": {"anyOf": [{"required": [name]} for name in ("path", "version", "workload")]},
        },
    ]


def _without_nulls(schema: dict[str, Any]) -> None:
    """An optional field is left out, never null: say so in the schema."""
    for prop in schema.get("properties", {}).values():
        branches = [b for b in prop.get("anyOf", ()) if b != {"type": "null"}]
        if len(branches) == 1 and len(prop["anyOf"]) == 2:
            del prop["anyOf"]
            prop.update(branches[0])
        if prop.get("default", ...) is None:
            del prop["default"]


class _Body(BaseModel):
    """A request body: unknown fields and nulls are refused."""

    model_config = ConfigDict(extra="forbid", json_schema_extra=_without_nulls)

    @model_validator(mode="before")
    @classmethod
    def _no_nulls(cls, data: Any) -> Any:
        if isinstance(data, dict):
            nulls = [k for k, v in data.items() if v is None and k in cls.model_fields]
            if nulls:
                raise ValueError(f"{', '.join(nulls)}: leave an optional field out, not null")
        return data


class RegisterPlaybook(_Body):
    playbook_yaml: str = Field(min_length=1)


class _EventIn(_Body):
    execution_id: str | None = Field(default=None, min_length=1, max_length=EXECUTION_ID_MAX)
    step: str | None = Field(default=None, min_length=1, max_length=255)
    timestamp: str | None = None  # sent by v2-guide clients; the database clock decides


class StartPayloadIn(_Body):
    """workflow.start's payload on the wire: `path` may be given at the top level instead."""

    model_config = ConfigDict(extra="allow", json_schema_extra=_without_nulls)
    path: str | None = Field(default=None, min_length=1)
    version: int | None = Field(default=None, ge=1, le=INT4_MAX)
    workload: dict[str, Any] | None = None


class StartIn(_EventIn):
    """workflow.start: the playbook as `path`/`version`/`workload`, or inside `payload`;
    `execution_id` is generated when absent."""

    model_config = ConfigDict(extra="forbid", json_schema_extra=_start_forms)
    name: Literal[EventName.WORKFLOW_START]
    path: str | None = Field(default=None, min_length=1)
    version: int | None = Field(default=None, ge=1, le=INT4_MAX)
    workload: dict[str, Any] | None = None
    payload: StartPayloadIn | None = None


class CancelIn(_EventIn):
    """workflow.cancel: stop an execution that has not finished."""

    name: Literal[EventName.WORKFLOW_CANCEL]
    execution_id: str = Field(min_length=1, max_length=EXECUTION_ID_MAX)
    payload: CancelPayload | None = None


class CallDoneIn(_EventIn):
    """call.done from an external worker: the command it holds, named by its lease."""

    name: Literal[EventName.CALL_DONE]
    queue_id: int = Field(ge=1, le=INT8_MAX)
    worker_id: str = Field(min_length=1, max_length=64)
    attempt: int = Field(ge=1, le=INT4_MAX)
    payload: CallDonePayload


EventIn = Annotated[StartIn | CancelIn | CallDoneIn, Field(discriminator="name")]
EVENT_MODELS: dict[str, type[_EventIn]] = {
    EventName.WORKFLOW_START: StartIn,
    EventName.WORKFLOW_CANCEL: CancelIn,
    EventName.CALL_DONE: CallDoneIn,
}
