"""`noetl-pg db upgrade|status|dsn`: the schema and where the database is."""

from __future__ import annotations

import argparse

from noetl_pg.cli import maintain
from noetl_pg.store.config import resolve_dsn
from noetl_pg.store.migrations import (
    available_migrations,
    current_version,
    schema_tables,
    upgrade,
)


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("db", help="database schema: upgrade, status, dsn")
    actions = parser.add_subparsers(dest="db_command", metavar="ACTION", required=True)
    up = actions.add_parser(
        "upgrade", help="apply pending migrations (idempotent, concurrent-safe)"
    )
    up.set_defaults(func=_upgrade)
    status = actions.add_parser("status", help="show the applied schema version")
    status.set_defaults(func=_status)
    dsn = actions.add_parser("dsn", help="print the DSN in use (starts the embedded server)")
    dsn.set_defaults(func=_dsn)
    maintain.register(actions)


def _upgrade(args: argparse.Namespace) -> int:
    dsn = resolve_dsn()
    applied = upgrade(dsn)
    for migration in applied:
        print(f"applied {migration.version:03d}_{migration.name}")
    print(f"schema at version {current_version(dsn)} ({len(applied)} applied now)")
    print(f"dsn: {dsn}")
    print("tables: " + ", ".join(f"noetl.{name}" for name in schema_tables(dsn)))
    return 0


def _status(args: argparse.Namespace) -> int:
    dsn = resolve_dsn()
    latest = available_migrations()[-1].version
    version = current_version(dsn)
    print(f"schema version {version} (latest {latest})")
    return 0 if version == latest else 1


def _dsn(args: argparse.Namespace) -> int:
    print(resolve_dsn())
    return 0
