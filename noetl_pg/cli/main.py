"""`noetl-pg`: the umbrella command. Each subcommand lives in `noetl_pg/cli/`."""

from __future__ import annotations

import argparse
import importlib
import logging
import os
import sys
from importlib import metadata

from noetl_pg.cli.exits import HELP, Exit

# Modules under noetl_pg.cli, each with `register(subparsers)`; order is --help order.
COMMAND_MODULES = [
    "db",
    "validate",
    "migrate",
    "run",
    "dev",
    "control",
    "inspect",
    "token",
    "signal",
    "schedule",
    "rerun",
    "drain",
]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="noetl-pg",
        description=(
            "noetl-pg: a workflow orchestrator whose only durable store is PostgreSQL.\n\n"
            "Configuration (environment):\n"
            "  NOETL_DSN        PostgreSQL DSN; when unset an embedded server is started\n"
            "  NOETL_HOME       local state for the embedded server (~/.local/share/noetl-pg)\n"
            "  NOETL_LOG_LEVEL  DEBUG, INFO, WARNING, ERROR; default WARNING for these\n"
            "                   commands and `dev` (their output is the answer), INFO for\n"
            "                   noetl-engine/-worker/-gateway (their log is): docs/cli.md"
        ),
        epilog=HELP,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"noetl-pg {_version()}")
    parser.add_argument(
        "--log-level",
        default=os.environ.get("NOETL_LOG_LEVEL", "WARNING"),
        help="logging level (default: NOETL_LOG_LEVEL or WARNING)",
    )
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMAND_MODULES:
        module = importlib.import_module(f"noetl_pg.cli.{name}")
        module.register(subparsers)
    return parser


def _version() -> str:
    try:
        return metadata.version("noetl-pg")
    except metadata.PackageNotFoundError:  # run from a checkout that is not installed
        return "unknown"


def configure_logging(level: str) -> None:
    logging.basicConfig(
        level=level.upper(),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    configure_logging(args.log_level)
    if not getattr(args, "func", None):
        parser.print_help()
        return Exit.OK
    try:
        return int(args.func(args) or 0)
    except KeyboardInterrupt:  # Ctrl-C where a command has no handler of its own
        return Exit.INTERRUPTED


if __name__ == "__main__":
    sys.exit(main())
