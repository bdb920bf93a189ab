"""`noetl-pg status ID`, `events ID`, `ps`, `playbooks list|show`: look at executions and
the catalog.

They read the database (NOETL_DSN, else the embedded server) with the same queries as the
gateway's read endpoints; `--json` prints what those endpoints would answer.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any

from noetl_pg.cli.dbclient import DatabaseClient, database_dsn
from noetl_pg.cli.exits import Exit, guarded
from noetl_pg.cli.progress import ENDINGS, error_text, warning_line
from noetl_pg.protocol import TERMINAL, ExecutionStatus
from noetl_pg.state import diagnostic_message
from noetl_pg.store.notifier import Notifier

PAGE = 1000
EVENT_CHANNEL = "noetl_event"  # NOTIFY'd by every event insert (sql/001_schema.sql)
FOLLOW_SAFETY = 5.0  # `events --follow`: look again this often even without a notification


def register(subparsers: argparse._SubParsersAction) -> None:
    status = subparsers.add_parser("status", help="one execution: status, steps, result, error")
    status.add_argument("execution_id", metavar="ID")
    status.add_argument("--json", action="store_true", help="the state as JSON")
    status.set_defaults(func=lambda args: _main(_status, args))

    events = subparsers.add_parser("events", help="one execution's event log as a timeline")
    events.add_argument("execution_id", metavar="ID")
    events.add_argument("--json", action="store_true", help="the events as JSON lines")
    events.add_argument("--width", type=int, default=80, help="payload characters shown (80)")
    events.add_argument(
        "--follow", action="store_true", help="keep printing new events until the execution ends"
    )
    events.set_defaults(func=lambda args: _main(_events, args))

    ps = subparsers.add_parser("ps", help="recent executions, newest first")
    ps.add_argument(
        "--status",
        type=ExecutionStatus,
        choices=list(ExecutionStatus),
        help="only executions with this status",
    )
    ps.add_argument("--path", help="only executions of this playbook path")
    ps.add_argument("--limit", type=int, default=20, help="how many (20)")
    ps.add_argument("--json", action="store_true", help="the executions as JSON")
    ps.set_defaults(func=lambda args: _main(_ps, args))

    playbooks = subparsers.add_parser("playbooks", help="the catalog: list, show")
    actions = playbooks.add_subparsers(dest="playbooks_command", metavar="ACTION", required=True)
    listing = actions.add_parser("list", help="every registered path, its latest version")
    listing.add_argument("--json", action="store_true", help="the playbooks as JSON")
    listing.set_defaults(func=lambda args: _main(_playbooks, args))
    show = actions.add_parser("show", help="one playbook's YAML text as registered")
    show.add_argument("path", metavar="PATH")
    show.add_argument("--version", type=int, help="catalog version (default: the latest)")
    show.add_argument("--json", action="store_true", help="the catalog row as JSON")
    show.set_defaults(func=lambda args: _main(_show, args))


def _main(
    command: Callable[[DatabaseClient, argparse.Namespace], Awaitable[int]],
    args: argparse.Namespace,
) -> int:
    async def run() -> int:
        async with DatabaseClient(database_dsn()) as client:
            return await command(client, args)

    return guarded(args.command, run)


async def _status(client: DatabaseClient, args: argparse.Namespace) -> int:
    state = await client.state(args.execution_id)
    if state is None:
        print(f"no execution {args.execution_id!r}", file=sys.stderr)
        return Exit.NOT_FOUND
    if args.json:
        print(json.dumps(state, indent=2, default=str))
        return 0
    summary = await client.summary(args.execution_id) or {}
    rows: list[tuple[str, Any]] = [
        ("execution", state["execution_id"]),
        ("playbook", _playbook(state["path"], summary.get("version"))),
        ("status", state["status"]),
    ]
    if summary:
        rows.append(("started", _when(summary["created_at"])))
        if summary["finished_at"]:
            took = (summary["finished_at"] - summary["created_at"]).total_seconds()
            rows.append(("finished", f"{_when(summary['finished_at'])} ({took:.2f}s)"))
        if summary["parent_execution_id"]:
            rows.append(("parent", summary["parent_execution_id"]))
        commands = summary["commands"] or {}
        rows.append(("commands", ", ".join(f"{n} {s}" for s, n in sorted(commands.items()))))
    rows.append(("running", ", ".join(state["current_steps"]) or "-"))
    rows.append(("steps done", ", ".join(sorted(state["step_results"])) or "-"))
    if state["error"]:
        rows.append(("error", state["error"]))
    if state["status"] == ExecutionStatus.COMPLETED:
        rows.append(("result", json.dumps(state["result"], default=str)))
    rows.extend(("warning", warning_line(w)) for w in state.get("warnings") or [])
    for label, value in rows:
        print(f"{label:<11} {value if value not in (None, '') else '-'}")
    return 0


async def _events(client: DatabaseClient, args: argparse.Namespace) -> int:
    rows = await _new_events(client, args.execution_id, 0)
    if not rows and await client.state(args.execution_id) is None:
        print(f"no execution {args.execution_id!r}", file=sys.stderr)
        return Exit.NOT_FOUND
    origin = rows[0]["created_at"] if rows else None
    after = 0
    if not args.json:
        print(f"{'time':>9}  {'event':>5}  {'name':<18} {'step':<16} {'status':<10} payload")
    notifier = Notifier(client.dsn, EVENT_CHANNEL, name="noetl-cli") if args.follow else None
    if notifier is not None:
        notifier.start()  # woken by each new event, not a polling loop
    try:
        while True:
            for row in rows:
                origin = origin or row["created_at"]
                _print_event(row, origin, args)
            sys.stdout.flush()
            ended = any(row["name"] in ENDINGS for row in rows)
            if notifier is None or ended or await _finished(client, args.execution_id, rows):
                return Exit.OK
            await notifier.wait(FOLLOW_SAFETY)
            after = rows[-1]["event_id"] if rows else after
            rows = await _new_events(client, args.execution_id, after)
    finally:
        if notifier is not None:
            await notifier.stop()


async def _new_events(client: DatabaseClient, execution_id: str, after: int) -> list[dict]:
    rows: list[dict[str, Any]] = []
    while True:
        page = await client.events(execution_id, after=rows[-1]["event_id"] if rows else after)
        rows.extend(page)
        if len(page) < PAGE:
            return rows


async def _finished(client: DatabaseClient, execution_id: str, rows: list[dict]) -> bool:
    """An execution that ended before `--follow` began has no ending event to wait for."""
    if rows:
        return False
    state = await client.state(execution_id)
    return state is not None and state["status"] in TERMINAL


def _print_event(row: dict[str, Any], origin: datetime, args: argparse.Namespace) -> None:
    if args.json:
        print(json.dumps(row, default=str))
        return
    offset = (row["created_at"] - origin).total_seconds()
    detail = _short(row["payload"], args.width)
    if row["error"]:
        detail = f"REFUSED: {error_text(row['error'])}  {detail}"
    for diagnostic in row.get("diagnostic") or []:
        detail = f"WARNING: {error_text(diagnostic_message(diagnostic))}  {detail}"
    print(
        f"{offset:+8.3f}s  {row['event_id']:>5}  {row['name']:<18} {row['step'] or '-':<16}"
        f" {row['status'] or '-':<10} {detail}"
    )


async def _ps(client: DatabaseClient, args: argparse.Namespace) -> int:
    rows = await client.executions(args.status, max(1, args.limit), args.path)
    if args.json:
        print(json.dumps(rows, indent=2, default=str))
        return 0
    if not rows:
        print("no executions" + (f" with status {args.status}" if args.status else ""))
        return 0
    print(f"{'execution':<37} {'status':<10} {'started':<19} {'took':>8}  playbook")
    for row in rows:
        took = (
            f"{(row['finished_at'] - row['created_at']).total_seconds():.2f}s"
            if row["finished_at"]
            else "-"
        )
        print(
            f"{row['execution_id']:<37} {row['status']:<10} {_when(row['created_at']):<19}"
            f" {took:>8}  {_playbook(row['path'], row['version'])}"
        )
    return 0


async def _playbooks(client: DatabaseClient, args: argparse.Namespace) -> int:
    rows = await client.playbooks()
    if args.json:
        print(json.dumps(rows, indent=2, default=str))
        return Exit.OK
    if not rows:
        print("no playbooks registered (`noetl-pg register FILE`)")
        return Exit.OK
    print(f"{'path':<40} {'version':>7}  {'registered':<19}  name")
    for row in rows:
        print(
            f"{row['path']:<40} {row['version']:>7}  {_when(row['created_at']):<19}"
            f"  {row['name'] or '-'}"
        )
    return Exit.OK


async def _show(client: DatabaseClient, args: argparse.Namespace) -> int:
    row = await client.playbook(args.path, args.version)
    if row is None:
        which = f"{args.path!r}" + (f" version {args.version}" if args.version else "")
        print(f"no playbook {which} is registered", file=sys.stderr)
        return Exit.NOT_FOUND
    if args.json:
        print(json.dumps(row, indent=2, default=str))
    else:
        print(row["yaml"], end="" if row["yaml"].endswith("\n") else "\n")
    return Exit.OK


def _playbook(path: str | None, version: int | None) -> str:
    return f"{path or '?'}" + (f" v{version}" if version else "")


def _when(moment: datetime) -> str:
    return moment.astimezone().strftime("%Y-%m-%d %H:%M:%S")


def _short(value: Any, width: int) -> str:
    text = json.dumps(value, default=str, separators=(", ", ": "))
    return text if len(text) <= width else text[: max(width - 1, 1)] + "…"
