"""`noetl-pg signal ID NAME [--set k=v]`: resume a `wait` on signal NAME.

It appends the `signal` event straight into the database (as the gateway's
`POST /api/v2/executions/{id}/signals` does); a signal to an unknown or finished
execution is refused with its reason and exits 1.
"""

from __future__ import annotations

import argparse
import sys

from noetl_pg.cli.dbclient import DatabaseClient, database_dsn
from noetl_pg.cli.exits import guarded
from noetl_pg.cli.workload import WorkloadError, add_set_argument, parse_sets
from noetl_pg.store.control import ClientEvents


def register(subparsers: argparse._SubParsersAction) -> None:
    signal = subparsers.add_parser("signal", help="send a signal to a waiting execution")
    signal.add_argument("execution_id", metavar="ID")
    signal.add_argument("name", metavar="NAME", help="the signal a `wait` step waits for")
    add_set_argument(signal)
    signal.set_defaults(func=_signal)


def _signal(args: argparse.Namespace) -> int:
    try:
        data = parse_sets(args.sets)
    except WorkloadError as exc:
        print(f"noetl-pg signal: {exc}", file=sys.stderr)
        return 2

    async def run() -> int:
        async with DatabaseClient(database_dsn()) as client:
            sent = await ClientEvents(client.conn).signal(args.execution_id, args.name, data)
            event_id = sent.event_id
        print(f"signal {args.name!r} sent to {args.execution_id} (event {event_id})")
        return 0

    return guarded(args.command, run)
