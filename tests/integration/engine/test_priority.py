"""Priority: the start payload's plus the step's; the lease query hands out the
higher-priority command first, whatever the order the commands were created in."""

from __future__ import annotations

import asyncio

from noetl_pg.store.db import async_pool
from noetl_pg.store.queue import CommandQueue
from tests.support.catalog import register_playbook
from tests.support.processes import start_daemon, terminate, wait_until

PLAYBOOK = """
apiVersion: noetl.io/v2
kind: Playbook
metadata: {name: prio, path: tests/prio}
workflow:
  - step: start
    priority: 5
    tool: {kind: noop}
"""


def test_a_higher_priority_command_is_leased_first(dsn, conn, tmp_path):
    register_playbook(conn, PLAYBOOK)
    engine = start_daemon("engine", dsn, tmp_path)
    try:
        for eid, priority in (("low", 0), ("high", 10), ("bad", "urgent")):
            conn.execute(
                "INSERT INTO noetl.event (execution_id, event_type, payload) VALUES (%s,"
                " 'workflow.start',"
                " jsonb_build_object('path', 'tests/prio', 'priority', %s::jsonb))",
                [eid, f'"{priority}"' if isinstance(priority, str) else str(priority)],
            )
        wait_until(
            lambda: conn.execute("SELECT count(*) AS n FROM noetl.queue").fetchone()["n"] == 2,
            "two commands",
        )
        wait_until(
            lambda: conn.execute(
                "SELECT 1 FROM noetl.event WHERE execution_id = 'bad' AND processed_at IS NOT NULL"
            ).fetchone(),
            "the bad start applied",
        )
    finally:
        assert terminate(engine) == 0
    rows = conn.execute("SELECT execution_id, priority FROM noetl.queue ORDER BY queue_id")
    assert [(r["execution_id"], r["priority"]) for r in rows] == [("low", 5), ("high", 15)]
    refused = conn.execute("SELECT error FROM noetl.event WHERE execution_id = 'bad'").fetchone()
    assert "`priority` must be an integer" in refused["error"]

    async def lease_one() -> list[dict]:
        pool = async_pool(dsn, min_size=1, max_size=1, name="test")
        await pool.open()
        try:
            return await CommandQueue(pool, "w-1").lease_commands(1, 30)
        finally:
            await pool.close()

    (first,) = asyncio.run(lease_one())
    assert first["execution_id"] == "high"
