"""`GET /api/v2/health`: the gateway answers and the database does too."""

from __future__ import annotations

import psycopg
import psycopg_pool
from starlette.requests import Request

from noetl_pg.gateway.errors import error_body
from noetl_pg.gateway.responses import Json
from noetl_pg.store.drain import is_draining
from noetl_pg.store.health import DatabaseHealth

CHECK_TIMEOUT = 3.0  # seconds; a health check must answer even when the database does not


async def health(request: Request) -> Json:
    try:
        async with request.app.state.pool.connection(timeout=CHECK_TIMEOUT) as conn:
            schema_ready = await DatabaseHealth(conn).schema_ready()
            draining = schema_ready and await is_draining(conn)
    except (psycopg.Error, psycopg_pool.PoolTimeout) as exc:
        return _unavailable("database_unavailable", f"the database is not reachable: {exc}")
    if not schema_ready:
        return _unavailable(
            "schema_missing", "the database has no noetl schema; run `noetl-pg db upgrade`"
        )
    return Json(
        {"status": "ok", "database": "ok", "service": "noetl-gateway", "draining": draining}
    )


def _unavailable(code: str, message: str) -> Json:
    body = {"status": "unavailable", "database": "error", **error_body(code, message)}
    return Json(body, status_code=503, headers={"Retry-After": "1"})
