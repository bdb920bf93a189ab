"""Registering playbooks from tests that hold a synchronous connection.

Registration is async (`noetl_pg.registration`); a test with a sync connection fixture
registers through the same code, on an async connection of its own to the same database.
"""

from __future__ import annotations

import asyncio

import psycopg
from psycopg.conninfo import make_conninfo

from noetl_pg.registration import register_playbook as register_async
from noetl_pg.store.catalog import Registered
from noetl_pg.store.db import connect_async


def register_playbook(conn: psycopg.Connection, text: str) -> Registered:
    """Validate and store `text` in the database `conn` is connected to."""
    dsn = make_conninfo(conn.info.dsn, password=conn.info.password or None)

    async def register() -> Registered:
        async with await connect_async(dsn, autocommit=True) as aconn:
            return await register_async(aconn, text)

    return asyncio.run(register())
