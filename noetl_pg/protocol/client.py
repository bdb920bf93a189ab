"""Client events (DSL.md section 2) as typed models: a union keyed on `name`.

A client (HTTP through the gateway, or the CLI on the database) writes only these three;
`store/control.py` takes them as they are, so what a client may say is written once.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from noetl_pg.protocol.events import EventName

INT4_MAX = 2**31 - 1
INT8_MAX = 2**63 - 1
EXECUTION_ID_MAX = 64


class StartPayload(BaseModel):
    """workflow.start: which playbook, which version, the workload merged over its own.
    Further keys are kept as they are."""

    model_config = ConfigDict(extra="allow")
    path: str = Field(min_length=1)
    version: int | None = Field(default=None, ge=1, le=INT4_MAX)
    workload: dict[str, Any] | None = None


class CancelPayload(BaseModel):
    model_config = ConfigDict(extra="forbid")
    reason: str | None = None


class CallError(BaseModel):
    model_config = ConfigDict(extra="allow")
    kind: str = Field(min_length=1)
    message: str


class CallDonePayload(BaseModel):
    """call.done: a `response` on success, or an `error` with kind and message."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"oneOf": [{"required": ["response"]}, {"required": ["error"]}]},
    )
    response: Any = None
    error: CallError | None = None

    @model_validator(mode="before")
    @classmethod
    def _exactly_one(cls, data: Any) -> Any:
        if isinstance(data, dict) and ("response" in data) == ("error" in data):
            raise ValueError("call.done payload needs exactly one of 'response' or 'error'")
        return data


class StartEvent(BaseModel):
    name: Literal[EventName.WORKFLOW_START] = EventName.WORKFLOW_START
    execution_id: str | None = Field(default=None, min_length=1, max_length=EXECUTION_ID_MAX)
    payload: StartPayload


class CancelEvent(BaseModel):
    name: Literal[EventName.WORKFLOW_CANCEL] = EventName.WORKFLOW_CANCEL
    execution_id: str = Field(min_length=1, max_length=EXECUTION_ID_MAX)
    payload: CancelPayload = CancelPayload()


class CallDoneEvent(BaseModel):
    """An external worker's report of the command it holds (`queue_id`, `worker_id`,
    `attempt` are its lease)."""

    name: Literal[EventName.CALL_DONE] = EventName.CALL_DONE
    execution_id: str | None = Field(default=None, min_length=1, max_length=EXECUTION_ID_MAX)
    queue_id: int = Field(ge=1, le=INT8_MAX)
    worker_id: str = Field(min_length=1, max_length=64)
    attempt: int = Field(ge=1, le=INT4_MAX)
    payload: CallDonePayload


ClientEvent = Annotated[StartEvent | CancelEvent | CallDoneEvent, Field(discriminator="name")]
