"""`POST /api/v2/executions/{id}/signals`: resume a `wait` on a signal (DSL.md section 9);
`POST /api/v2/executions/{id}/rerun`: re-run a failed execution (section 10).

Body `{"name": "approved", "data": {...}}`; the signal's payload is `data` plus `name`.
A signal to an unknown execution is 404 `execution_not_found`, to a finished one 409
`execution_finished`; one that arrives before its wait is kept for the first wait.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field
from starlette.requests import Request

from noetl_pg.gateway.requests import read_json_object, validate
from noetl_pg.gateway.responses import Json
from noetl_pg.store.control import ClientEvents
from noetl_pg.store.rerun import rerun


class SignalIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=200)
    data: dict[str, Any] = Field(default_factory=dict)


async def post_signal(request: Request) -> Json:
    body = validate(SignalIn, await read_json_object(request))
    execution_id = request.path_params["execution_id"]
    async with request.app.state.pool.connection() as conn:
        event_id = (await ClientEvents(conn).signal(execution_id, body.name, body.data)).event_id
    return Json(
        {"execution_id": execution_id, "event_id": event_id, "name": body.name},
        status_code=202,
    )


class RerunIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    from_step: str | None = Field(default=None, min_length=1)


async def post_rerun(request: Request) -> Json:
    """`POST /api/v2/executions/{id}/rerun` ({from_step?}): 202 with the new id."""
    body = validate(RerunIn, await read_json_object(request, allow_empty=True))
    execution_id = request.path_params["execution_id"]
    async with request.app.state.pool.connection() as conn:
        new_id = await rerun(conn, execution_id, body.from_step)
    return Json({"execution_id": new_id, "rerun_of": execution_id}, status_code=202)
