"""The web console at /ui: server-rendered pages, live over server-sent events."""

from noetl_pg.gateway.console.routes import routes

__all__ = ["routes"]
