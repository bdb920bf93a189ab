"""The Starlette application: routes, error handlers, auth, and the database pool."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.routing import Route

from noetl_pg import console
from noetl_pg.gateway import events, executions, health, metrics, openapi, playbooks
from noetl_pg.gateway.auth import BearerAuth
from noetl_pg.gateway.errors import EXCEPTION_HANDLERS
from noetl_pg.store.control import AppliedWaiter
from noetl_pg.store.db import async_pool

DEFAULT_MAX_BODY_BYTES = 1_048_576
POOL_TIMEOUT = 10.0  # seconds a request waits for a connection before answering 503

ROUTES = [
    Route("/api/v2/health", health.health, methods=["GET"]),
    Route("/api/v2/engine/register-playbook", playbooks.register_playbook, methods=["POST"]),
    Route("/api/v2/events", events.post_event, methods=["POST"]),
    Route("/api/v2/playbooks", playbooks.list_playbooks, methods=["GET"]),
    Route("/api/v2/playbooks/{path:path}", playbooks.get_playbook, methods=["GET"]),
    Route("/api/v2/executions", executions.get_executions, methods=["GET"]),
    Route("/api/v2/executions/{execution_id}", executions.get_execution, methods=["GET"]),
    Route(
        "/api/v2/executions/{execution_id}/events",
        executions.get_execution_events,
        methods=["GET"],
    ),
    Route(
        "/api/v2/executions/{execution_id}/commands",
        executions.get_execution_commands,
        methods=["GET"],
    ),
    Route("/api/v2/executions/{execution_id}/cancel", events.cancel_execution, methods=["POST"]),
    Route("/api/v2/queue", executions.get_queue, methods=["GET"]),
    Route("/openapi.json", openapi.openapi_json, methods=["GET"]),
    Route("/docs", openapi.docs, methods=["GET"]),
    *metrics.routes(),
    *console.routes(),
]


def create_app(
    dsn: str, *, api_token: str | None = None, max_body_bytes: int = DEFAULT_MAX_BODY_BYTES
) -> Starlette:
    """The gateway as an ASGI app. Its one pool opens in the lifespan, without waiting for
    the database: until it answers, health says 503 and other endpoints 503 after a timeout."""

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        pool = async_pool(dsn, min_size=1, max_size=8, name="noetl-gateway")
        pool.timeout = POOL_TIMEOUT
        await pool.open(wait=False)
        waiter = AppliedWaiter(pool)
        waiter.start()
        app.state.pool = pool
        app.state.waiter = waiter
        try:
            yield
        finally:
            await waiter.stop()
            await pool.close()

    app = Starlette(
        routes=ROUTES,
        middleware=[Middleware(metrics.RequestMetrics), Middleware(BearerAuth, token=api_token)],
        exception_handlers=EXCEPTION_HANDLERS,
        lifespan=lifespan,
    )
    app.state.max_body_bytes = max_body_bytes
    app.state.api_token = api_token  # the console's login compares with it
    return app
