"""Schedule ticks (DSL.md section 9): when a schedule's next tick comes, and what one
tick does.

Each tick starts one execution whose id is derived from the schedule and the tick, so
however many engines scan, a tick is one run. Ticks missed while nothing ran fire once:
the oldest due tick fires and the next one is the first after now.
"""

from __future__ import annotations

import hashlib
import math
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from croniter import croniter

from noetl_pg.protocol import TERMINAL


def next_tick(row: dict[str, Any], after: datetime, base: datetime | None = None) -> datetime:
    """The first tick of the schedule strictly after `after`; an `every` schedule keeps
    its phase from `base` (the tick that fired), or starts its period at `after`."""
    if row["cron"]:
        local = after.astimezone(ZoneInfo(row["timezone"]))
        return croniter(row["cron"], local).get_next(datetime)
    period = float(row["every_seconds"])
    if base is None:
        return after + timedelta(seconds=period)
    periods = math.floor((after - base).total_seconds() / period) + 1
    return base + timedelta(seconds=periods * period)


def tick_execution_id(path: str, name: str, tick: datetime) -> str:
    digest = hashlib.md5(f"{path}\n{name}\n{tick.isoformat()}".encode()).hexdigest()
    return f"sched-{digest[:32]}"


def overlapping(row: dict[str, Any]) -> bool:
    """Whether the schedule's last run has not finished (not applied yet counts)."""
    if row["last_execution_id"] is None:
        return False
    return row["last_status"] is None or row["last_status"] not in TERMINAL
