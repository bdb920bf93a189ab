"""Schema migrations: numbered files in `sql/`, applied in order, each recorded once.

An advisory lock serialises concurrent upgraders, so two processes starting at the same
time both succeed and the schema is built exactly once. This is a tool run on a DSN
before anything else runs (`noetl-pg db upgrade`, the test template, `noetl-pg run`), so
it is synchronous, on a connection of its own; data access proper is async (`access.py`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import psycopg

from noetl_pg.store.queries import query

SQL_DIR = Path(__file__).resolve().parent.parent / "sql"
_LOCK_KEY = 0x6E6F65746C  # "noetl"
_FILE_PATTERN = re.compile(r"^(\d+)_([\w-]+)\.sql$")


@dataclass(frozen=True)
class Migration:
    version: int
    name: str
    path: Path

    def sql(self) -> str:
        return self.path.read_text()


def available_migrations(sql_dir: Path = SQL_DIR) -> list[Migration]:
    found = []
    for path in sorted(sql_dir.glob("*.sql")):
        match = _FILE_PATTERN.match(path.name)
        if match:
            found.append(Migration(int(match.group(1)), match.group(2), path))
    versions = [m.version for m in found]
    if len(set(versions)) != len(versions):
        raise RuntimeError(f"duplicate migration numbers in {sql_dir}: {versions}")
    return sorted(found, key=lambda m: m.version)


def upgrade(dsn: str, sql_dir: Path = SQL_DIR) -> list[Migration]:
    """Apply every migration not yet applied; return the ones applied now."""
    applied_now = []
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute("SELECT pg_advisory_lock(%s)", [_LOCK_KEY])
        try:
            conn.execute(
                "CREATE TABLE IF NOT EXISTS public.noetl_schema_version ("
                " version INTEGER PRIMARY KEY, name TEXT NOT NULL,"
                " applied_at TIMESTAMPTZ NOT NULL DEFAULT now())"
            )
            done = {row[0] for row in conn.execute("SELECT version FROM noetl_schema_version")}
            for migration in available_migrations(sql_dir):
                if migration.version in done:
                    continue
                with conn.transaction():
                    conn.execute(migration.sql())
                    conn.execute(
                        "INSERT INTO noetl_schema_version (version, name) VALUES (%s, %s)",
                        [migration.version, migration.name],
                    )
                applied_now.append(migration)
        finally:
            conn.execute("SELECT pg_advisory_unlock(%s)", [_LOCK_KEY])
    return applied_now


def current_version(dsn: str) -> int | None:
    with psycopg.connect(dsn, autocommit=True) as conn:
        exists = conn.execute("SELECT to_regclass('public.noetl_schema_version')").fetchone()
        if not exists or exists[0] is None:
            return None
        row = conn.execute("SELECT max(version) FROM noetl_schema_version").fetchone()
        return row[0] if row else None


def schema_tables(dsn: str) -> list[str]:
    """The names of the tables in the noetl schema."""
    with psycopg.connect(dsn, autocommit=True) as conn:
        return [row[0] for row in conn.execute(query("noetl_tables"))]
