"""`noetl-pg schedule list [PATH] | pause PATH [NAME] | resume PATH [NAME]`.

Reads and changes `noetl.schedule` straight in the database; a resumed schedule's next
tick is computed again from now (the ticks of the pause do not fire).
"""

from __future__ import annotations

import argparse
import json
import sys

from noetl_pg.cli.dbclient import DatabaseClient, database_dsn
from noetl_pg.cli.exits import guarded
from noetl_pg.store.schedules import list_schedules, set_paused

COLUMNS = ("path", "name", "paused", "next_fire_at", "last_fired_at", "fires", "skipped")


def register(subparsers: argparse._SubParsersAction) -> None:
    schedule = subparsers.add_parser("schedule", help="list, pause or resume schedules")
    actions = schedule.add_subparsers(dest="action", metavar="ACTION", required=True)
    listing = actions.add_parser("list", help="every schedule, with its next tick")
    listing.add_argument("path", nargs="?", metavar="PATH")
    listing.add_argument("--json", action="store_true", help="one JSON object per line")
    listing.set_defaults(func=_list)
    for action, paused in (("pause", True), ("resume", False)):
        change = actions.add_parser(action, help=f"{action} the schedules of PATH (or one)")
        change.add_argument("path", metavar="PATH")
        change.add_argument("name", nargs="?", metavar="NAME")
        change.set_defaults(func=_change, paused=paused)


def _list(args: argparse.Namespace) -> int:
    async def run() -> int:
        async with DatabaseClient(database_dsn()) as client:
            rows = await list_schedules(client.conn, args.path)
        for row in rows:
            if args.json:
                print(json.dumps(row, default=str))
            else:
                print("  ".join(f"{column}={row[column]}" for column in COLUMNS))
        return 0

    return guarded(args.command, run)


def _change(args: argparse.Namespace) -> int:
    async def run() -> int:
        async with DatabaseClient(database_dsn()) as client:
            rows = await set_paused(client.conn, args.path, args.name, args.paused)
        if not rows:
            which = f"{args.path!r}" + (f" named {args.name!r}" if args.name else "")
            print(f"noetl-pg schedule: no schedule of {which}", file=sys.stderr)
            return 1
        for row in rows:
            print(f"{row['path']} {row['name']}: {'paused' if row['paused'] else 'resumed'}")
        return 0

    return guarded(args.command, run)
