"""The engines' maintenance leader's pass, run by a test that has no engine running (it is
what takes expired leases back)."""

from __future__ import annotations

import asyncio
import time

from noetl_pg.engine.leader import PassReport, run_pass
from noetl_pg.store.db import connect_async


def maintenance_pass(dsn: str) -> PassReport:
    async def one() -> PassReport:
        async with await connect_async(dsn, autocommit=True) as conn:
            return await run_pass(conn)

    return asyncio.run(one())


def reclaim_expired_leases(dsn: str, count: int = 1, timeout: float = 60) -> None:
    """Run passes until `count` expired leases were taken back (their lease must run out)."""
    deadline, taken = time.monotonic() + timeout, 0
    while taken < count:
        report = maintenance_pass(dsn)
        taken += report.leases_retried + report.leases_failed
        assert time.monotonic() < deadline, f"only {taken} of {count} leases expired in time"
        time.sleep(0.1)
