"""`GET /ui/live`: a server-sent event each time the event log changes.

It LISTENs through the store's `Notifier` (the insert triggers' NOTIFY), so pages refresh
their live parts when something happened, never on a timer."""

from __future__ import annotations

from collections.abc import AsyncIterator

from sse_starlette.sse import EventSourceResponse
from starlette.requests import Request

from noetl_pg.store.notifier import Notifier

CHANNEL = "noetl_event"  # every insert into noetl.event notifies it (sql/001_schema.sql)
KEEPALIVE = 15.0  # seconds between comments that keep idle proxies from closing the stream


async def live(request: Request) -> EventSourceResponse:
    dsn = request.app.state.pool.conninfo

    async def changes() -> AsyncIterator[dict[str, str]]:
        notifier = Notifier(dsn, CHANNEL, name="noetl-console")
        notifier.start()
        try:
            while True:
                if await notifier.wait(KEEPALIVE):
                    yield {"event": "changed", "data": ""}
        finally:
            await notifier.stop()

    return EventSourceResponse(changes(), ping=KEEPALIVE)
