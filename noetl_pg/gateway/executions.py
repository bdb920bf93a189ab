"""Reading executions over HTTP: the list, one execution's state, its event log, its
commands, and the depth of the queue."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Any

from starlette.requests import Request

from noetl_pg.gateway.errors import ApiError
from noetl_pg.gateway.requests import query_int
from noetl_pg.gateway.responses import Json
from noetl_pg.protocol import ExecutionStatus
from noetl_pg.protocol.client import INT8_MAX
from noetl_pg.state import ExecutionView
from noetl_pg.store.errors import ExecutionNotFound
from noetl_pg.store.executions import ExecutionReader

STATUSES = [str(status) for status in ExecutionStatus]


async def get_execution(request: Request) -> Json:
    execution_id = request.path_params["execution_id"]
    async with request.app.state.pool.connection() as conn:
        row = await ExecutionReader(conn).state_of(execution_id)
    if row is None:
        raise ExecutionNotFound(execution_id)
    return Json(ExecutionView.from_row(row).to_dict())


async def get_executions(request: Request) -> Json:
    status = request.query_params.get("status")
    if status is not None and status not in STATUSES:
        raise ApiError(
            422,
            "invalid_query",
            f"status={status!r} is not one of {STATUSES}",
            {"parameter": "status", "allowed": STATUSES},
        )
    path = request.query_params.get("path") or None
    limit = query_int(request, "limit", 50, minimum=1, maximum=500)
    after = decode_cursor(request.query_params.get("cursor"))
    async with request.app.state.pool.connection() as conn:
        rows = await ExecutionReader(conn).executions(
            status=ExecutionStatus(status) if status else None, path=path, limit=limit, after=after
        )
    next_cursor = encode_cursor(rows[-1]) if len(rows) == limit else None
    return Json({"executions": rows, "next_cursor": next_cursor})


async def get_execution_events(request: Request) -> Json:
    execution_id = request.path_params["execution_id"]
    after = query_int(request, "after", 0, minimum=0, maximum=INT8_MAX)
    limit = query_int(request, "limit", 100, minimum=1, maximum=1000)
    async with request.app.state.pool.connection() as conn:
        reader = ExecutionReader(conn)
        rows = await reader.events_of(execution_id, after=after, limit=limit)
        if not rows and await reader.state_of(execution_id) is None:
            raise ExecutionNotFound(execution_id)
    next_after = rows[-1]["event_id"] if len(rows) == limit else None
    return Json(
        {
            "execution_id": execution_id,
            "events": rows,
            "next_after": next_after,
        }
    )


async def get_execution_commands(request: Request) -> Json:
    execution_id = request.path_params["execution_id"]
    async with request.app.state.pool.connection() as conn:
        reader = ExecutionReader(conn)
        rows = await reader.commands_of(execution_id)
        if not rows and await reader.state_of(execution_id) is None:
            raise ExecutionNotFound(execution_id)
    return Json({"execution_id": execution_id, "commands": rows})


async def get_queue(request: Request) -> Json:
    async with request.app.state.pool.connection() as conn:
        rows = await ExecutionReader(conn).queue_depth()
    return Json(
        {
            "commands": {row["status"]: row["commands"] for row in rows},
            "oldest_seconds": {row["status"]: row["oldest_seconds"] for row in rows},
        }
    )


EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
MICROSECOND = timedelta(microseconds=1)
# `<created_at in microseconds since 1970>:<execution_id>`: every string of this shape is
# a place in the list (the document says so, and a fuzzer holds it to it).
CURSOR_PATTERN = r"^[0-9]{1,16}:[^\x00]+$"


def encode_cursor(row: dict[str, Any]) -> str:
    return f"{(row['created_at'] - EPOCH) // MICROSECOND}:{row['execution_id']}"


def decode_cursor(cursor: str | None) -> tuple[datetime, str] | None:
    """The (created_at, execution_id) a page continues after; 422 for a forged cursor."""
    if cursor is None:
        return None
    if not re.fullmatch(CURSOR_PATTERN, cursor):
        raise ApiError(
            422,
            "invalid_query",
            "cursor is not one this API gave out; use next_cursor from the previous page",
            {"parameter": "cursor"},
        )
    micros, execution_id = cursor.split(":", 1)
    return EPOCH + int(micros) * MICROSECOND, execution_id
