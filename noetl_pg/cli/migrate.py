"""`noetl-pg migrate FILE [-o OUT]`: rewrite a v1 playbook as DSL v2."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "migrate",
        help="rewrite a v1 playbook as v2 (to stdout or -o OUT); warnings go to stderr",
    )
    parser.add_argument("file", metavar="FILE", help="v1 playbook YAML file")
    parser.add_argument("-o", "--output", metavar="OUT", help="write here instead of stdout")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """0 when migrated (warnings may still be printed), 1 when it could not be."""
    from noetl_pg.dsl import (  # here, not at import: every noetl-pg call loads this module
        MigrationError,
        migrate_v1_to_v2_with_warnings,
    )

    try:
        text = Path(args.file).read_text(encoding="utf-8")
    except OSError as exc:
        print(f"{args.file}: cannot read: {exc.strerror or exc}", file=sys.stderr)
        return 1
    try:
        migrated, warnings = migrate_v1_to_v2_with_warnings(text)
    except MigrationError as exc:
        print(f"{args.file}: cannot migrate: {exc}", file=sys.stderr)
        return 1
    for warning in warnings:
        print(f"{args.file}: warning: {warning}", file=sys.stderr)
    if args.output:
        try:
            Path(args.output).write_text(migrated, encoding="utf-8")
        except OSError as exc:
            print(f"{args.output}: cannot write: {exc.strerror or exc}", file=sys.stderr)
            return 1
    else:
        sys.stdout.write(migrated)
    return 0
