"""The one way a subcommand gets its parser, so `--help` shows its module docstring."""

from __future__ import annotations

import argparse


def command_parser(
    subparsers: argparse._SubParsersAction, name: str, summary: str, doc: str | None
) -> argparse.ArgumentParser:
    """`summary` is the line in `noetl-pg --help`; `doc` (the module's docstring, kept
    as written) is what `noetl-pg NAME --help` explains."""
    return subparsers.add_parser(
        name, help=summary, description=doc, formatter_class=argparse.RawDescriptionHelpFormatter
    )
