"""`noetl-pg migrate`: rewrite v1 and NoETL playbooks into this dialect (docs/dsl.md).

    noetl-pg migrate FILE [-o OUT]           the migrated playbook to stdout (or OUT)
    noetl-pg migrate --check FILE|DIR...     exit 1 when any file would change, printing what
    noetl-pg migrate --in-place FILE|DIR...  rewrite the files that would change

A directory stands for every `*.yaml`/`*.yml` file below it. A file "would change" when
the migration says something (a warning) or its playbook differs from the input's; a
playbook that is already in this dialect is left byte for byte as it is.
"""

from __future__ import annotations

import argparse
import difflib
import sys
from dataclasses import dataclass
from pathlib import Path

import yaml

from noetl_pg.cli.parsing import command_parser


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = command_parser(
        subparsers,
        "migrate",
        "rewrite v1 and NoETL playbooks into this dialect; warnings go to stderr",
        __doc__,
    )
    parser.add_argument("files", nargs="+", metavar="FILE", help="playbook YAML files or dirs")
    parser.add_argument("-o", "--output", metavar="OUT", help="write here instead of stdout")
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument(
        "--check", action="store_true", help="change nothing; exit 1 when a file would change"
    )
    mode.add_argument("--in-place", action="store_true", help="rewrite the files that would change")
    parser.set_defaults(func=run)


@dataclass
class _Outcome:
    text: str
    migrated: str | None
    warnings: list[str]
    error: str | None = None

    @property
    def changes(self) -> bool:
        if self.migrated is None:
            return False
        return bool(self.warnings) or _data(self.text) != _data(self.migrated)


def run(args: argparse.Namespace) -> int:
    """0 when done (or, with --check, nothing would change); 1 otherwise."""
    if args.check or args.in_place:
        if args.output:
            print("migrate: -o is for one FILE, not with --check/--in-place", file=sys.stderr)
            return 2
        return _many(args.files, in_place=args.in_place)
    if len(args.files) != 1:
        print("migrate: one FILE (use --check or --in-place for several)", file=sys.stderr)
        return 2
    return _one(args.files[0], args.output)


def _migrate(name: str) -> _Outcome:
    from noetl_pg.dsl import (  # here, not at import: every noetl-pg call loads this module
        MigrationError,
        migrate_v1_to_v2_with_warnings,
    )

    try:
        text = Path(name).read_text(encoding="utf-8")
    except OSError as exc:
        return _Outcome("", None, [], f"{name}: cannot read: {exc.strerror or exc}")
    try:
        migrated, warnings = migrate_v1_to_v2_with_warnings(text)
    except MigrationError as exc:
        return _Outcome(text, None, [], f"{name}: cannot migrate: {exc}")
    return _Outcome(text, migrated, warnings)


def _one(name: str, output: str | None) -> int:
    outcome = _migrate(name)
    if outcome.migrated is None:
        print(outcome.error, file=sys.stderr)
        return 1
    for warning in outcome.warnings:
        print(f"{name}: warning: {warning}", file=sys.stderr)
    if output:
        try:
            Path(output).write_text(outcome.migrated, encoding="utf-8")
        except OSError as exc:
            print(f"{output}: cannot write: {exc.strerror or exc}", file=sys.stderr)
            return 1
    else:
        sys.stdout.write(outcome.migrated)
    return 0


def _many(names: list[str], *, in_place: bool) -> int:
    files = _expand(names)
    if not files:
        print("migrate: no *.yaml or *.yml file found in " + " ".join(names), file=sys.stderr)
        return 1
    failed = changed = False
    for path in files:
        outcome = _migrate(str(path))
        if outcome.migrated is None:
            print(outcome.error, file=sys.stderr)
            failed = True
            continue
        if not outcome.changes:
            print(f"unchanged: {path}")
            continue
        changed = True
        for warning in outcome.warnings:
            print(f"{path}: warning: {warning}", file=sys.stderr)
        if in_place:
            try:
                path.write_text(outcome.migrated, encoding="utf-8")
            except OSError as exc:
                print(f"{path}: cannot write: {exc.strerror or exc}", file=sys.stderr)
                failed = True
                continue
            print(f"migrated: {path} ({len(outcome.warnings)} warnings)")
        else:
            print(f"would change: {path}")
            sys.stdout.writelines(
                difflib.unified_diff(
                    outcome.text.splitlines(True),
                    outcome.migrated.splitlines(True),
                    f"{path}",
                    f"{path} (migrated)",
                )
            )
    return 1 if failed or (changed and not in_place) else 0


def _expand(names: list[str]) -> list[Path]:
    files: list[Path] = []
    for name in names:
        path = Path(name)
        if path.is_dir():
            files.extend(
                sorted(p for p in path.rglob("*") if p.is_file() and p.suffix in (".yaml", ".yml"))
            )
        else:
            files.append(path)
    return files


def _data(text: str) -> object:
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError:
        return None
