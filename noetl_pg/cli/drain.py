"""`noetl-pg drain on | off | status`: stop taking new workflows and let running ones end.

While draining, a new `workflow.start` is refused (the API answers 503 `draining`; one
inserted by SQL is recorded refused), schedules do not fire, and running executions, with
their sub-playbooks, finish. `status` tells how many executions are still unfinished, so
an operator knows when the deployment is empty.
"""

from __future__ import annotations

import argparse
import getpass
import json

from noetl_pg.cli.dbclient import DatabaseClient, database_dsn
from noetl_pg.cli.exits import guarded
from noetl_pg.store.drain import drain_status, set_draining


def register(subparsers: argparse._SubParsersAction) -> None:
    drain = subparsers.add_parser("drain", help="refuse new workflows (on), accept them (off)")
    drain.add_argument("action", choices=("on", "off", "status"))
    drain.add_argument("--json", action="store_true", help="the status as one JSON object")
    drain.set_defaults(func=_drain)


def _drain(args: argparse.Namespace) -> int:
    async def run() -> int:
        async with DatabaseClient(database_dsn()) as client:
            if args.action == "status":
                status = await drain_status(client.conn)
            else:
                by = f"noetl-pg drain by {getpass.getuser()}"
                status = await set_draining(client.conn, args.action == "on", by)
        if args.json:
            print(json.dumps(status, default=str))
        else:
            print(describe(status))
        return 0

    return guarded(args.command, run)


def describe(status: dict) -> str:
    """One line: the mode, and what still runs."""
    mode = "draining" if status["draining"] else "accepting new workflows"
    return (
        f"{mode} (since {status['changed_at']}, {status['changed_by'] or 'initial'});"
        f" {status['unfinished']} execution(s) unfinished"
    )
