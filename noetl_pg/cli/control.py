"""`noetl-pg register FILE`, `noetl-pg start PATH`, `noetl-pg cancel ID`: change things.

They write through the same store code as the gateway (a catalog version, a
`workflow.start` or a `workflow.cancel` event) straight into the database; running
engines pick it up. A refusal is printed with its reason and exits 1.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path

import psycopg

from noetl_pg.cli.dbclient import (
    REFUSALS,
    DatabaseClient,
    database_dsn,
    explain_database_error,
)
from noetl_pg.cli.workload import WorkloadError, add_set_argument, parse_sets


def register(subparsers: argparse._SubParsersAction) -> None:
    reg = subparsers.add_parser("register", help="register playbook files in the catalog")
    reg.add_argument("files", nargs="+", metavar="FILE")
    reg.set_defaults(func=_register)

    start = subparsers.add_parser(
        "start", help="start an execution of a registered playbook; prints its id"
    )
    start.add_argument("path", metavar="PATH", help="the playbook's catalog path")
    start.add_argument("--version", type=int, help="catalog version (default: the latest)")
    add_set_argument(start)
    start.set_defaults(func=_start)

    cancel = subparsers.add_parser("cancel", help="stop an execution (no new commands)")
    cancel.add_argument("execution_id", metavar="ID")
    cancel.add_argument("--reason", help="recorded on the workflow.cancel event")
    cancel.set_defaults(func=_cancel)


def _register(args: argparse.Namespace) -> int:
    from noetl_pg.dsl import PlaybookError

    texts = {}
    for name in args.files:
        try:
            texts[name] = Path(name).read_text()
        except OSError as exc:
            print(f"{name}: cannot read: {exc.strerror or exc}", file=sys.stderr)
            return 2

    async def run() -> int:
        failed = False
        async with DatabaseClient(database_dsn()) as client:
            for name, text in texts.items():
                try:
                    done = await client.register(text, name)
                except PlaybookError as exc:
                    failed = True
                    for problem in exc.problems:
                        print(problem.format(), file=sys.stderr)
                    continue
                state = "registered" if done.created else "unchanged (identical text)"
                print(f"{done.path} version {done.version}: {state}")
        return 1 if failed else 0

    return guarded(args, run)


def _start(args: argparse.Namespace) -> int:
    try:
        workload = parse_sets(args.sets)
    except WorkloadError as exc:
        print(f"noetl-pg start: {exc}", file=sys.stderr)
        return 2

    async def run() -> int:
        async with DatabaseClient(database_dsn()) as client:
            print(await client.start(args.path, args.version, workload))
        return 0

    return guarded(args, run)


def _cancel(args: argparse.Namespace) -> int:
    async def run() -> int:
        async with DatabaseClient(database_dsn()) as client:
            await client.cancel(args.execution_id, args.reason)
        print(f"cancel requested for {args.execution_id}")
        return 0

    return guarded(args, run)


def guarded(args: argparse.Namespace, run: Callable[[], Awaitable[int]]) -> int:
    """Run one command's coroutine; a refusal or a database error is one line and exit 1."""
    try:
        return asyncio.run(run())
    except REFUSALS as exc:
        print(f"noetl-pg {args.command}: {exc}", file=sys.stderr)
        return 1
    except psycopg.Error as exc:
        print(f"noetl-pg {args.command}: {explain_database_error(exc)}", file=sys.stderr)
        return 1
