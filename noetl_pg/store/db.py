"""Connections: one place that turns a DSN into pools and dedicated connections."""

from __future__ import annotations

import psycopg
from psycopg.rows import dict_row
from psycopg_pool import AsyncConnectionPool
from psycopg_pool.base import AttemptWithBackoff

# psycopg_pool waits 1 s after a failed connection attempt and doubles the wait each time,
# without a cap short of `reconnect_timeout`: after a 20 s outage a daemon sat idle for
# another 13 s with PostgreSQL back. Keep the pool retrying about once a second instead, so
# a restarted PostgreSQL is in use again within a second or two (measured: docs/engine.md).
AttemptWithBackoff.DELAY_BACKOFF = 1.0

# Dead peers are noticed within about half a minute even when the network goes silent.
KEEPALIVE = {
    "keepalives": 1,
    "keepalives_idle": 10,
    "keepalives_interval": 5,
    "keepalives_count": 3,
}


def connect(dsn: str, *, autocommit: bool = False, application_name: str = "noetl-pg"):
    """A plain synchronous connection with dict rows (for tools that run one statement
    and exit, and for tests); data access is async, through `store/access.py`."""
    return psycopg.connect(
        dsn,
        autocommit=autocommit,
        row_factory=dict_row,
        application_name=application_name,
        **KEEPALIVE,
    )


async def connect_async(
    dsn: str, *, autocommit: bool = False, application_name: str = "noetl-pg"
) -> psycopg.AsyncConnection:
    """A dedicated async connection (for LISTEN, which must not live in a pool)."""
    return await psycopg.AsyncConnection.connect(
        dsn,
        autocommit=autocommit,
        row_factory=dict_row,
        application_name=application_name,
        **KEEPALIVE,
    )


def async_pool(
    dsn: str,
    *,
    min_size: int = 1,
    max_size: int = 4,
    name: str = "noetl-pg",
    autocommit: bool = False,
    check: bool = True,
) -> AsyncConnectionPool:
    """An async pool (opened by the caller with `await pool.open()`)."""
    return AsyncConnectionPool(
        dsn,
        min_size=min_size,
        max_size=max_size,
        kwargs={
            "row_factory": dict_row,
            "application_name": name,
            "autocommit": autocommit,
            **KEEPALIVE,
        },
        open=False,
        check=AsyncConnectionPool.check_connection if check else None,
        name=name,
    )
