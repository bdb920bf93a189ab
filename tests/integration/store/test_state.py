"""`get_state` (the guide's synchronous API) and `read_state` (inside an event loop)."""

from __future__ import annotations

import asyncio

from noetl_pg.protocol import ExecutionStatus
from noetl_pg.state import ExecutionView, get_state, read_state


def test_both_read_the_same_view_of_an_execution(dsn, conn):
    conn.execute(
        "INSERT INTO noetl.execution (execution_id, path, status, active_steps, step_results)"
        " VALUES ('exec-1', 'p', 'running', ARRAY['b', 'c'], '{\"a\": 1}')"
    )
    synchronous = get_state("exec-1", dsn=dsn)
    assert isinstance(synchronous, ExecutionView)
    assert synchronous.workflow_status is ExecutionStatus.RUNNING
    assert (synchronous.current_step, synchronous.step_results) == ("b", {"a": 1})

    async def inside_a_loop() -> ExecutionView | None:
        return await read_state("exec-1", dsn=dsn)

    assert asyncio.run(inside_a_loop()) == synchronous
    assert get_state("exec-none", dsn=dsn) is None
