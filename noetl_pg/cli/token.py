"""`noetl-pg token create|revoke|list`: API tokens with roles (docs/security.md)."""

from __future__ import annotations

import argparse
import json

from noetl_pg.cli.dbclient import DatabaseClient, database_dsn
from noetl_pg.cli.exits import guarded
from noetl_pg.protocol.roles import Role
from noetl_pg.store.tokens import TokenStore


def register(subparsers: argparse._SubParsersAction) -> None:
    token = subparsers.add_parser("token", help="API tokens: create, revoke, list")
    verbs = token.add_subparsers(dest="verb", metavar="VERB", required=True)

    create = verbs.add_parser("create", help="make a token; prints it once (only a hash is kept)")
    create.add_argument("--role", required=True, choices=[r.value for r in Role])
    create.add_argument("--name", default="", help="what it is for (shown by `token list`)")
    create.set_defaults(func=_create)

    revoke = verbs.add_parser("revoke", help="stop a token from working")
    revoke.add_argument("token_id", metavar="ID")
    revoke.set_defaults(func=_revoke)

    listing = verbs.add_parser("list", help="every token: id, role, name, created, revoked")
    listing.add_argument("--json", action="store_true", help="one JSON document per line")
    listing.set_defaults(func=_list)


def _create(args: argparse.Namespace) -> int:
    async def run() -> int:
        async with DatabaseClient(database_dsn()) as client:
            made = await TokenStore(client.conn).create(Role(args.role), args.name)
        print(made.token)
        print(f"token {made.token_id} ({made.role}): shown once, keep it now", flush=True)
        return 0

    return guarded(args.command, run)


def _revoke(args: argparse.Namespace) -> int:
    async def run() -> int:
        async with DatabaseClient(database_dsn()) as client:
            revoked = await TokenStore(client.conn).revoke(args.token_id)
        if revoked is None:
            print(f"noetl-pg token revoke: no token {args.token_id!r}")
            return 1
        print(f"token {args.token_id} revoked at {revoked['revoked_at']:%Y-%m-%d %H:%M:%S%z}")
        return 0

    return guarded(args.command, run)


def _list(args: argparse.Namespace) -> int:
    async def run() -> int:
        async with DatabaseClient(database_dsn()) as client:
            rows = await TokenStore(client.conn).tokens()
        for row in rows:
            if args.json:
                print(json.dumps(row, default=str))
            else:
                revoked = (
                    f"revoked {row['revoked_at']:%Y-%m-%d %H:%M}" if row["revoked_at"] else "live"
                )
                print(f"{row['token_id']}  {row['role']:<7} {revoked:<22} {row['name']}")
        return 0

    return guarded(args.command, run)
