"""Named SQL queries, loaded from `store/queries/*.sql`.

Each query starts with a header line `-- name: some_name` followed by an optional
one-line `-- description`; the SQL runs to the next header. Reading the SQL never means
reading Python strings, and every query has a name that shows up in logs.
"""

from __future__ import annotations

import re
from functools import cache
from pathlib import Path

QUERY_DIR = Path(__file__).resolve().parent / "queries"
_HEADER = re.compile(r"^--\s*name:\s*([a-z_][a-z0-9_]*)\s*$", re.MULTILINE)


def parse_named_queries(text: str) -> dict[str, str]:
    """`{name: sql}` of one file in the `-- name: x` format."""
    headers = list(_HEADER.finditer(text))
    found: dict[str, str] = {}
    for index, header in enumerate(headers):
        end = headers[index + 1].start() if index + 1 < len(headers) else len(text)
        name = header.group(1)
        if name in found:
            raise RuntimeError(f"query {name!r} is defined twice")
        found[name] = text[header.end() : end].strip()
    return found


@cache
def all_queries() -> dict[str, str]:
    queries: dict[str, str] = {}
    for path in sorted(QUERY_DIR.glob("*.sql")):
        for name, sql in parse_named_queries(path.read_text()).items():
            if name in queries:
                raise RuntimeError(f"query {name!r} is defined twice (second in {path.name})")
            queries[name] = sql
    return queries


def query(name: str) -> str:
    """The SQL text of the named query."""
    try:
        return all_queries()[name]
    except KeyError:
        raise KeyError(f"no SQL query named {name!r} in {QUERY_DIR}") from None
