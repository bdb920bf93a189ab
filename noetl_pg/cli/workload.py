"""`--set key=value`: workload values from the command line.

Values are parsed as YAML scalars, so `n=3` is the integer 3, `ok=true` a boolean and
`items=[1, 2]` a list; a dotted key (`db.port=5432`) sets a nested mapping.
"""

from __future__ import annotations

import argparse
import json
from typing import Any

import yaml


class WorkloadError(ValueError):
    """A `--set` argument that cannot be read; the message names it."""


def add_set_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--set",
        dest="sets",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="a workload value (YAML scalar: n=3 is an int); repeatable; a.b=1 nests",
    )


def parse_sets(pairs: list[str]) -> dict[str, Any]:
    """The workload given by `--set` pairs, in order (a later key wins)."""
    workload: dict[str, Any] = {}
    for pair in pairs:
        key, sep, raw = pair.partition("=")
        key = key.strip()
        if not sep or not key:
            raise WorkloadError(f"--set {pair!r}: expected KEY=VALUE")
        parts = key.split(".")
        if not all(parts):
            raise WorkloadError(f"--set {pair!r}: empty name in key {key!r}")
        target = workload
        for part in parts[:-1]:
            child = target.setdefault(part, {})
            if not isinstance(child, dict):
                raise WorkloadError(f"--set {pair!r}: {part!r} is already set to a value")
            target = child
        target[parts[-1]] = _scalar(pair, raw)
    return workload


def _scalar(pair: str, raw: str) -> Any:
    if raw.strip() == "":
        return ""
    try:
        value = yaml.safe_load(raw)
    except yaml.YAMLError as exc:
        reason = str(exc).splitlines()[0]
        raise WorkloadError(f"--set {pair!r}: the value is not valid YAML ({reason})") from None
    try:
        json.dumps(value)
    except (TypeError, ValueError):
        return raw  # a YAML date or the like: the workload is JSON, so keep the text
    return value
