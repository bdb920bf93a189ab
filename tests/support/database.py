"""Which PostgreSQL the tests use, and fresh databases on it.

Order: NOETL_TEST_DSN; else the local server on 127.0.0.1:5432; else a Docker container
(testcontainers) when a Docker engine answers; else the embedded server in a temporary
NOETL_HOME. Every test run works in databases of its own, so runs never share rows.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import psycopg
from psycopg.conninfo import conninfo_to_dict, make_conninfo

from noetl_pg.store.migrations import upgrade

LOCAL_DSN = "postgresql://127.0.0.1:5432/test"


def _answers(dsn: str) -> bool:
    try:
        with psycopg.connect(dsn, connect_timeout=3):
            return True
    except psycopg.Error:
        return False


def _docker_answers() -> bool:
    if not shutil.which("docker"):
        return False
    result = subprocess.run(["docker", "info"], capture_output=True, timeout=10, check=False)
    return result.returncode == 0


@contextmanager
def server_dsn() -> Iterator[str]:
    """A DSN of a database on a server the tests may create databases on."""
    configured = os.environ.get("NOETL_TEST_DSN")
    if configured:
        yield configured
        return
    if _answers(LOCAL_DSN):
        yield LOCAL_DSN
        return
    if _docker_answers():
        from testcontainers.postgres import PostgresContainer

        with PostgresContainer("postgres:16-alpine", driver=None) as container:
            yield container.get_connection_url()
        return
    from noetl_pg.store.embedded import ensure_embedded_server

    home = Path(tempfile.mkdtemp(prefix="noetl-test-home-"))
    home.chmod(0o755)
    server = ensure_embedded_server(home, announce=False)
    try:
        yield server.dsn
    finally:
        server.stop("immediate")
        shutil.rmtree(home, ignore_errors=True)


def with_database(dsn: str, dbname: str) -> str:
    params = conninfo_to_dict(dsn)
    params["dbname"] = dbname
    return make_conninfo(**params)


class DatabaseFactory:
    """Creates databases for one test run: a migrated template, then clones of it."""

    def __init__(self, admin_dsn: str) -> None:
        self.admin_dsn = admin_dsn
        self.prefix = f"noetl_t{os.getpid()}_{uuid.uuid4().hex[:6]}"
        self.template = f"{self.prefix}_tpl"
        self.created: list[str] = []
        self._serial = 0
        self._create(self.template, template=None)
        upgrade(with_database(admin_dsn, self.template))

    def _create(self, name: str, template: str | None) -> None:
        with psycopg.connect(self.admin_dsn, autocommit=True) as conn:
            clause = f' TEMPLATE "{template}"' if template else ""
            conn.execute(f'CREATE DATABASE "{name}"{clause}')
        self.created.append(name)

    def fresh(self, *, migrated: bool = True) -> str:
        """A new database (with the schema applied unless `migrated=False`); its DSN."""
        self._serial += 1
        name = f"{self.prefix}_{self._serial}"
        self._create(name, template=self.template if migrated else None)
        return with_database(self.admin_dsn, name)

    def drop_all(self) -> None:
        with psycopg.connect(self.admin_dsn, autocommit=True) as conn:
            for name in reversed(self.created):
                conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
