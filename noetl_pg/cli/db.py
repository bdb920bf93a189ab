"""`noetl-pg db start|stop|status|upgrade|dsn`: the embedded server, the schema, the DSN.

`start`/`stop` manage the embedded PostgreSQL under NOETL_HOME (commands start it on
first use anyway; `stop` is the clean way to end it). With NOETL_DSN set there is no
embedded server to manage: `start`/`stop` say so and exit 2.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from typing import Any

import psycopg

from noetl_pg.cli import maintain
from noetl_pg.cli.exits import Exit
from noetl_pg.cli.parsing import command_parser
from noetl_pg.cli.run import redact
from noetl_pg.store.config import noetl_home, resolve_dsn
from noetl_pg.store.embedded import (
    ensure_embedded_server,
    running_embedded_server,
    server_dir,
    stop_embedded_server,
)
from noetl_pg.store.migrations import (
    available_migrations,
    current_version,
    schema_tables,
    upgrade,
)


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = command_parser(
        subparsers, "db", "the database: start, stop, status, upgrade, dsn", __doc__
    )
    actions = parser.add_subparsers(dest="db_command", metavar="ACTION", required=True)
    start = actions.add_parser(
        "start", help="start the embedded PostgreSQL (or reuse it) and apply the schema"
    )
    start.set_defaults(func=_start)
    stop = actions.add_parser("stop", help="stop the embedded PostgreSQL cleanly")
    stop.set_defaults(func=_stop)
    status = actions.add_parser(
        "status", help="where the database is, whether it runs, the schema version"
    )
    status.add_argument("--json", action="store_true", help="the status as JSON")
    status.set_defaults(func=_status)
    up = actions.add_parser(
        "upgrade", help="apply pending migrations (idempotent, concurrent-safe)"
    )
    up.set_defaults(func=_upgrade)
    dsn = actions.add_parser("dsn", help="print the DSN in use (starts the embedded server)")
    dsn.set_defaults(func=_dsn)
    maintain.register(actions)


def _no_embedded(action: str) -> bool:
    if os.environ.get("NOETL_DSN"):
        print(
            f"noetl-pg db {action}: NOETL_DSN is set, so no embedded server is used;"
            " unset it to manage the embedded one",
            file=sys.stderr,
        )
        return True
    return False


def _start(args: argparse.Namespace) -> int:
    if _no_embedded("start"):
        return Exit.USAGE
    server = ensure_embedded_server(noetl_home(), announce=False)
    upgrade(server.dsn)  # ready for the daemons, as any command's first use makes it
    print(f"embedded PostgreSQL running on 127.0.0.1:{server.port}")
    print(f"data: {server.data_dir}")
    print(f"dsn: {redact(server.dsn)}")
    return Exit.OK


def _stop(args: argparse.Namespace) -> int:
    if _no_embedded("stop"):
        return Exit.USAGE
    home = noetl_home()
    server = stop_embedded_server(home)
    if server is None:
        print(f"no embedded PostgreSQL running (data: {server_dir(home) / 'pgdata'})")
    else:
        print(f"stopped the embedded PostgreSQL on port {server.port} (data: {server.data_dir})")
    return Exit.OK


def _status(args: argparse.Namespace) -> int:
    state: dict[str, Any] = {"latest_version": available_migrations()[-1].version}
    if os.environ.get("NOETL_DSN"):
        dsn: str | None = os.environ["NOETL_DSN"]
        state.update(database="NOETL_DSN", running=None)
    else:
        home = noetl_home()
        server = running_embedded_server(home)
        dsn = server.dsn if server else None
        state.update(
            database="embedded",
            running=server is not None,
            port=server.port if server else None,
            data=str(server_dir(home) / "pgdata"),
        )
    state["dsn"] = redact(dsn) if dsn else None
    state["schema_version"] = None
    code = Exit.NOT_FOUND
    if dsn:
        try:
            state["schema_version"] = current_version(dsn)
            code = Exit.OK if state["schema_version"] == state["latest_version"] else Exit.FAILED
        except psycopg.OperationalError as exc:
            state["error"] = str(exc).strip().splitlines()[-1]
    if args.json:
        print(json.dumps(state, indent=2))
        return code
    for key, value in state.items():
        if value is not None:
            print(f"{key.replace('_', ' '):<15} {value}")
    if dsn is None:
        print("not running: `noetl-pg db start` (or any command) starts it")
    return code


def _upgrade(args: argparse.Namespace) -> int:
    dsn = resolve_dsn()
    applied = upgrade(dsn)
    for migration in applied:
        print(f"applied {migration.version:03d}_{migration.name}")
    print(f"schema at version {current_version(dsn)} ({len(applied)} applied now)")
    print(f"dsn: {redact(dsn)}")
    print("tables: " + ", ".join(f"noetl.{name}" for name in schema_tables(dsn)))
    return Exit.OK


def _dsn(args: argparse.Namespace) -> int:
    print(resolve_dsn())
    return Exit.OK
