"""Request bodies (pydantic v2). Unknown fields are refused so typos surface as 422."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field, model_validator

INT4_MAX = 2**31 - 1
INT8_MAX = 2**63 - 1


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class RegisterPlaybook(_Body):
    playbook_yaml: str = Field(min_length=1)


class EventIn(_Body):
    """`POST /api/v2/events`. `path`/`version`/`workload` at the top level are folded into
    a workflow.start payload; `queue_id`/`worker_id`/`attempt` name an external worker's
    command for call.done."""

    name: str = Field(min_length=1, max_length=64)
    execution_id: str | None = Field(default=None, min_length=1, max_length=64)
    step: str | None = Field(default=None, min_length=1, max_length=255)
    payload: dict[str, Any] | None = None
    path: str | None = Field(default=None, min_length=1)
    version: int | None = Field(default=None, ge=1, le=INT4_MAX)
    workload: dict[str, Any] | None = None
    queue_id: int | None = Field(default=None, ge=1, le=INT8_MAX)
    worker_id: str | None = Field(default=None, min_length=1, max_length=64)
    attempt: int | None = Field(default=None, ge=1, le=INT4_MAX)
    timestamp: str | None = None  # sent by v2-guide clients; the database clock decides


class StartPayload(BaseModel):
    """workflow.start: which playbook, which version, the workload merged over its own."""

    model_config = ConfigDict(extra="allow")
    path: str = Field(min_length=1)
    version: int | None = Field(default=None, ge=1, le=INT4_MAX)
    workload: dict[str, Any] | None = None


class CancelPayload(_Body):
    reason: str | None = None


class CallError(BaseModel):
    model_config = ConfigDict(extra="allow")
    kind: str = Field(min_length=1)
    message: str


class CallDonePayload(BaseModel):
    """call.done: a `response` on success, or an `error` with kind and message."""

    model_config = ConfigDict(extra="forbid")
    response: Any = None
    error: CallError | None = None

    @model_validator(mode="before")
    @classmethod
    def _exactly_one(cls, data: Any) -> Any:
        if isinstance(data, dict) and ("response" in data) == ("error" in data):
            raise ValueError("call.done payload needs exactly one of 'response' or 'error'")
        return data
