"""The benchmark's named SQL, from `bench/queries.sql` (same header format as the store)."""

from __future__ import annotations

import re
from functools import cache
from pathlib import Path

_FILE = Path(__file__).resolve().parent / "queries.sql"
_HEADER = re.compile(r"^--\s*name:\s*([a-z_][a-z0-9_]*)\s*$", re.MULTILINE)


@cache
def _queries() -> dict[str, str]:
    text = _FILE.read_text()
    headers = list(_HEADER.finditer(text))
    found = {}
    for index, header in enumerate(headers):
        end = headers[index + 1].start() if index + 1 < len(headers) else len(text)
        found[header.group(1)] = text[header.end() : end].strip()
    return found


def q(name: str) -> str:
    """The SQL text of the named benchmark query."""
    try:
        return _queries()[name]
    except KeyError:
        raise KeyError(f"no benchmark query named {name!r} in {_FILE}") from None
