"""`noetl-pg register FILE`, `noetl-pg start PATH`, `noetl-pg cancel ID`: change things.

They write through the same store code as the gateway (a catalog version, a
`workflow.start` or a `workflow.cancel` event) straight into the database; running
engines pick it up. A refusal is printed with its reason; exit codes: `cli/exits.py`.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from noetl_pg.cli.dbclient import DatabaseClient, database_dsn
from noetl_pg.cli.exits import Exit, guarded
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
    start.add_argument("--id", metavar="ID", help="the execution id to use (default: a new one)")
    add_set_argument(start)
    wait = start.add_mutually_exclusive_group()
    wait.add_argument(
        "--wait", action="store_true", help="wait for the end; exit status as `run`'s"
    )
    wait.add_argument(
        "--follow", action="store_true", help="show its events live until the end (as `run`)"
    )
    start.add_argument(
        "--timeout", type=float, metavar="S", help="with --wait/--follow: give up after S seconds"
    )
    start.add_argument(
        "--json", action="store_true", help="with --wait: the final document as JSON"
    )
    start.set_defaults(func=_start, gateway=None)

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
            return Exit.USAGE

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
        return Exit.USAGE if failed else Exit.OK

    return guarded(args.command, run)


def _start(args: argparse.Namespace) -> int:
    try:
        workload = parse_sets(args.sets)
    except WorkloadError as exc:
        print(f"noetl-pg start: {exc}", file=sys.stderr)
        return Exit.USAGE

    async def run() -> int:
        from noetl_pg.cli.run import Runner

        async with DatabaseClient(database_dsn()) as client:
            execution_id = await client.start(args.path, args.version, workload, args.id)
            if not (args.wait or args.follow):
                print(execution_id)
                return Exit.OK
            runner = Runner(args, "", workload)
            runner.show_events = args.follow and not args.json
            runner.say(f"started {execution_id}; waiting for a running engine to finish it")
            return await runner.watch(client, execution_id)

    return guarded(args.command, run)


def _cancel(args: argparse.Namespace) -> int:
    async def run() -> int:
        async with DatabaseClient(database_dsn()) as client:
            await client.cancel(args.execution_id, args.reason)
        print(f"cancel requested for {args.execution_id}")
        return 0

    return guarded(args.command, run)
