"""`GET /api/v2/schedules` and `POST /api/v2/schedules/pause|resume` ({path, name?})."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field
from starlette.requests import Request

from noetl_pg.gateway.errors import ApiError
from noetl_pg.gateway.requests import read_json_object, validate
from noetl_pg.gateway.responses import Json
from noetl_pg.store.schedules import list_schedules, set_paused


class ScheduleRef(BaseModel):
    model_config = ConfigDict(extra="forbid")

    path: str = Field(min_length=1)
    name: str | None = Field(default=None, min_length=1)


async def get_schedules(request: Request) -> Json:
    path = request.query_params.get("path") or None
    async with request.app.state.pool.connection() as conn:
        rows = await list_schedules(conn, path)
    return Json({"schedules": rows})


async def pause_schedules(request: Request) -> Json:
    return await _set(request, paused=True)


async def resume_schedules(request: Request) -> Json:
    return await _set(request, paused=False)


async def _set(request: Request, *, paused: bool) -> Json:
    ref = validate(ScheduleRef, await read_json_object(request))
    async with request.app.state.pool.connection() as conn:
        rows = await set_paused(conn, ref.path, ref.name, paused)
    if not rows:
        raise ApiError(404, "schedule_not_found", f"no schedule of {ref.path!r}", ref.model_dump())
    return Json({"schedules": rows})
