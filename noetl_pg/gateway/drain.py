"""`GET /api/v2/drain` (the drain status) and `POST /api/v2/drain` ({draining}: admin)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, StrictBool
from starlette.requests import Request

from noetl_pg.gateway.requests import read_json_object, validate
from noetl_pg.gateway.responses import Json
from noetl_pg.store.drain import drain_status, set_draining


class DrainChange(BaseModel):
    """`draining: true` stops new workflows; `false` accepts them again."""

    model_config = ConfigDict(extra="forbid")

    draining: StrictBool


async def get_drain(request: Request) -> Json:
    async with request.app.state.pool.connection() as conn:
        return Json(await drain_status(conn))


async def post_drain(request: Request) -> Json:
    change = validate(DrainChange, await read_json_object(request))
    async with request.app.state.pool.connection() as conn:
        return Json(await set_draining(conn, change.draining, "the API"))
