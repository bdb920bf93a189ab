"""The benchmark's named SQL, from `bench/queries.sql` (the store's `-- name:` format)."""

from __future__ import annotations

from functools import cache
from pathlib import Path

from noetl_pg.store.queries import parse_named_queries

_FILE = Path(__file__).resolve().parent / "queries.sql"


@cache
def _queries() -> dict[str, str]:
    return parse_named_queries(_FILE.read_text())


def q(name: str) -> str:
    """The SQL text of the named benchmark query."""
    try:
        return _queries()[name]
    except KeyError:
        raise KeyError(f"no benchmark query named {name!r} in {_FILE}") from None
