"""Where the database is: `NOETL_DSN`, or the embedded default under `NOETL_HOME`."""

from __future__ import annotations

import os
from pathlib import Path


def noetl_home() -> Path:
    """The directory for local state (the embedded server's data, its lock and password)."""
    configured = os.environ.get("NOETL_HOME")
    if configured:
        return Path(configured).expanduser()
    return Path("~/.local/share/noetl-pg").expanduser()


def resolve_dsn(dsn: str | None = None, *, announce: bool = True) -> str:
    """Return the DSN to use: the argument, else `NOETL_DSN`, else the embedded server.

    The embedded server is started on first use and reused afterwards, so every daemon
    and the CLI work on a machine with nothing but Python.
    """
    if dsn:
        return dsn
    configured = os.environ.get("NOETL_DSN")
    if configured:
        return configured
    from noetl_pg.store.embedded import ensure_embedded_server

    return ensure_embedded_server(noetl_home(), announce=announce).dsn
