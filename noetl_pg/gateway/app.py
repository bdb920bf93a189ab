"""The Starlette application: routes, error handlers, auth, and the database pool."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator

from starlette.applications import Starlette
from starlette.middleware import Middleware

from noetl_pg.gateway import metrics
from noetl_pg.gateway.auth import BearerAuth
from noetl_pg.gateway.endpoints import ENDPOINTS, MOUNTS
from noetl_pg.gateway.errors import EXCEPTION_HANDLERS
from noetl_pg.gateway.openapi import ASSETS_PATH, openapi_document
from noetl_pg.gateway.route_table import routes_of
from noetl_pg.gateway.workers import queue_listener
from noetl_pg.store.control import AppliedWaiter
from noetl_pg.store.db import async_pool

DEFAULT_MAX_BODY_BYTES = 1_048_576
POOL_TIMEOUT = 10.0  # seconds a request waits for a connection before answering 503


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
        listener = queue_listener(dsn)  # what remote workers' long-polls wait on
        listener.start()
        app.state.pool = pool
        app.state.waiter = waiter
        app.state.queue_listener = listener
        try:
            yield
        finally:
            await listener.stop()
            await waiter.stop()
            await pool.close()

    public = {e.path for e in ENDPOINTS if e.public}
    app = Starlette(
        routes=[*routes_of(ENDPOINTS), *MOUNTS],
        middleware=[
            Middleware(metrics.RequestMetrics),
            Middleware(BearerAuth, token=api_token, public=public, public_prefixes=(ASSETS_PATH,)),
        ],
        exception_handlers=EXCEPTION_HANDLERS,
        lifespan=lifespan,
    )
    app.state.max_body_bytes = max_body_bytes
    app.state.openapi = openapi_document(ENDPOINTS)
    app.state.api_token = api_token  # the console's login compares with it
    return app
