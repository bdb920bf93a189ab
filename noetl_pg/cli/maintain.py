"""`noetl-pg db maintain|archive|restore`: one maintenance pass by hand, and moving
finished executions to a file and back."""

from __future__ import annotations

import argparse
import asyncio
import sys
from datetime import UTC, datetime
from pathlib import Path

from noetl_pg.engine.leader import PassReport, run_pass
from noetl_pg.protocol.retention import check_retention, deployment_retention
from noetl_pg.store.archive import archive, restore
from noetl_pg.store.config import resolve_dsn
from noetl_pg.store.db import connect_async


def register(actions: argparse._SubParsersAction) -> None:
    """Add the maintenance actions to `noetl-pg db`."""
    maintain = actions.add_parser(
        "maintain",
        help="one maintenance pass: reclaim expired leases, remove history past retention",
    )
    maintain.add_argument(
        "--retention",
        default=None,
        help="retention of playbooks that name none (default NOETL_RETENTION, else 30d)",
    )
    maintain.set_defaults(func=_maintain)
    out = actions.add_parser(
        "archive", help="write executions finished before a date to compressed JSON lines"
    )
    out.add_argument(
        "--before", required=True, type=_date, help="ISO date or timestamp, e.g. 2026-01-31"
    )
    out.add_argument("--to", required=True, type=Path, metavar="FILE", help="e.g. old.jsonl.gz")
    out.set_defaults(func=_archive)
    back = actions.add_parser("restore", help="bring archived executions back for inspection")
    back.add_argument("file", type=Path, metavar="FILE")
    back.set_defaults(func=_restore)


def _date(text: str) -> datetime:
    """An ISO date or timestamp; without a zone it is UTC."""
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"not an ISO date or timestamp (like 2026-01-31): {text!r}"
        ) from None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _maintain(args: argparse.Namespace) -> int:
    try:
        retention = deployment_retention()
        if args.retention is not None:
            retention = check_retention(args.retention, where="--retention")
    except ValueError as exc:
        print(f"noetl-pg db maintain: {exc}", file=sys.stderr)
        return 2
    report = asyncio.run(_one_pass(resolve_dsn(), retention))
    for line in report.lines():
        print(line)
    return 0


async def _one_pass(dsn: str, retention: str) -> PassReport:
    async with await connect_async(
        dsn, autocommit=True, application_name="noetl-pg-maintain"
    ) as conn:
        return await run_pass(conn, retention=retention)


def _archive(args: argparse.Namespace) -> int:
    counts = archive(resolve_dsn(), args.before, args.to)
    print(f"archived {counts} finished before {args.before.isoformat()} to {args.to}")
    return 0


def _restore(args: argparse.Namespace) -> int:
    counts = restore(resolve_dsn(), args.file)
    print(f"restored {counts} from {args.file}")
    return 0
