"""`noetl-pg db maintain`: one maintenance pass by hand, and what it did."""

from __future__ import annotations

import argparse
import asyncio
import sys

from noetl_pg.engine.maintenance import PassReport, run_pass
from noetl_pg.protocol.retention import check_retention, deployment_retention
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
