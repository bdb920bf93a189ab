"""`noetl-pg rerun ID [--from-step S]`: re-run a failed or cancelled execution; prints
the new execution's id (DSL.md section 10)."""

from __future__ import annotations

import argparse

from noetl_pg.cli.dbclient import DatabaseClient, database_dsn
from noetl_pg.cli.exits import guarded
from noetl_pg.store.rerun import rerun


def register(subparsers: argparse._SubParsersAction) -> None:
    command = subparsers.add_parser(
        "rerun", help="re-run a failed execution from its failed steps; prints the new id"
    )
    command.add_argument("execution_id", metavar="ID")
    command.add_argument("--from-step", metavar="STEP", help="enter this step instead")
    command.set_defaults(func=_rerun)


def _rerun(args: argparse.Namespace) -> int:
    async def run() -> int:
        async with DatabaseClient(database_dsn()) as client:
            print(await rerun(client.conn, args.execution_id, args.from_step))
        return 0

    return guarded(args.command, run)
