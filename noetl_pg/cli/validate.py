"""`noetl-pg validate FILE...`: check playbooks without running them."""

from __future__ import annotations

import argparse
import sys


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "validate",
        help="check playbook files; problems go to stderr as file:line:col: step.field: message",
    )
    parser.add_argument("files", nargs="+", metavar="FILE", help="playbook YAML files")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """0 when every file is a valid v2 playbook, 1 otherwise."""
    from noetl_pg.dsl import (  # here, not at import: every noetl-pg call loads this module
        PlaybookError,
        validate_playbook_file,
    )

    failed = False
    for name in args.files:
        try:
            validate_playbook_file(name)
        except PlaybookError as exc:
            failed = True
            for problem in exc.problems:
                print(problem.format(), file=sys.stderr)
        except OSError as exc:
            failed = True
            print(f"{name}: cannot read: {exc.strerror or exc}", file=sys.stderr)
        else:
            print(f"ok: {name}")
    return 1 if failed else 0
