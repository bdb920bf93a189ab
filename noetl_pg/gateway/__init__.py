"""The HTTP API: a thin Starlette app that validates input, writes rows and reads rows."""

from noetl_pg.gateway.app import create_app

__all__ = ["create_app"]
