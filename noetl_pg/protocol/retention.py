"""How long a finished execution is kept: one spelling for playbooks and NOETL_RETENTION.

A retention is a whole number and a unit (`s`, `m`, `h`, `d`, `w`), e.g. `30d`; it is
stored as written and read by PostgreSQL as an interval, so the spelling is kept to the
few forms both sides read the same way.
"""

from __future__ import annotations

import os
import re

DEFAULT_RETENTION = "30d"
_RETENTION = re.compile(r"^[1-9][0-9]*[smhdw]$")


def check_retention(value: str, *, where: str) -> str:
    """`value` if it is a retention, else a ValueError naming `where` it was read."""
    text = value.strip()
    if not _RETENTION.match(text):
        raise ValueError(
            f"{where}: retention must be a whole number and a unit (s, m, h, d, w), "
            f"like '30d' or '12h', not {value!r}"
        )
    return text


def deployment_retention() -> str:
    """NOETL_RETENTION, the retention of playbooks that name none (default 30d)."""
    return check_retention(
        os.environ.get("NOETL_RETENTION", DEFAULT_RETENTION), where="NOETL_RETENTION"
    )
