"""`GET /ui/live`: a server-sent event each time the event log changes.

It LISTENs through the store's `Notifier` (the insert trigger's NOTIFY). A notification
means a client or a worker wrote an event, not that an engine applied it; so the page is
told once at once, and again when the newest unapplied event has been applied (through the
gateway's `AppliedWaiter`), when the state the page shows has moved."""

from __future__ import annotations

from collections.abc import AsyncIterator

from sse_starlette.sse import EventSourceResponse
from starlette.requests import Request

from noetl_pg.store.console import ConsoleReader
from noetl_pg.store.control import Accepted
from noetl_pg.store.notifier import Notifier

CHANNEL = "noetl_event"  # every insert of an unapplied event notifies it (sql/001_schema.sql)
KEEPALIVE = 15.0  # seconds between comments that keep idle proxies from closing the stream
APPLY_WAIT = 10.0  # seconds to wait for an engine to apply what woke us
CHANGED = {"event": "changed", "data": ""}


async def live(request: Request) -> EventSourceResponse:
    app = request.app

    async def changes() -> AsyncIterator[dict[str, str]]:
        notifier = Notifier(app.state.pool.conninfo, CHANNEL, name="noetl-console")
        notifier.start()
        try:
            while True:
                if not await notifier.wait(KEEPALIVE):
                    continue
                yield CHANGED
                async with app.state.pool.connection() as conn:
                    newest = await ConsoleReader(conn).newest_unapplied_event()
                if newest is not None:
                    accepted = Accepted(newest["event_id"], newest["execution_id"])
                    await app.state.waiter.wait(accepted, APPLY_WAIT)
                    yield CHANGED
        finally:
            await notifier.stop()

    return EventSourceResponse(changes(), ping=KEEPALIVE)
