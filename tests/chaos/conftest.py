"""The chaos suite's own PostgreSQL: an embedded server in a private NOETL_HOME, so tests
may stop, kill and restart it without touching any other suite's database."""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from noetl_pg.store.db import connect
from noetl_pg.store.embedded import EmbeddedServer, ensure_embedded_server
from tests.support.database import DatabaseFactory


@pytest.fixture(scope="session")
def pg_server() -> Iterator[EmbeddedServer]:
    """A private embedded server (as root it runs as the postgres user, so the home must
    be traversable: mode 0o755)."""
    home = Path(tempfile.mkdtemp(prefix="noetl-chaos-home-"))
    home.chmod(0o755)
    server = ensure_embedded_server(home, announce=False)
    try:
        yield server
    finally:
        if server.is_running():
            server.stop("immediate")
        shutil.rmtree(home, ignore_errors=True)


@pytest.fixture(scope="session")
def chaos_databases(pg_server: EmbeddedServer) -> Iterator[DatabaseFactory]:
    factory = DatabaseFactory(pg_server.dsn)
    try:
        yield factory
    finally:
        if not pg_server.is_running():
            pg_server.start()
        factory.drop_all()


@pytest.fixture
def chaos_dsn(pg_server: EmbeddedServer, chaos_databases: DatabaseFactory) -> str:
    """A fresh migrated database on the private server (started again if a test left it
    stopped)."""
    if not pg_server.is_running():
        pg_server.start()
    return chaos_databases.fresh()


@pytest.fixture
def chaos_conn(chaos_dsn: str):
    with connect(chaos_dsn, autocommit=True) as connection:
        yield connection
