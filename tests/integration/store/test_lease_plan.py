"""The lease query stays on an index with 100k pending rows: it walks `idx_queue_ready`
(priority DESC, created_at, queue_id) and stops after n rows instead of sorting them."""

from __future__ import annotations

from noetl_pg.store.queries import query


def lease_plan(conn) -> str:
    """The EXPLAIN of `lease_commands` (for 10 rows) on the queue as it is, analyzed."""
    conn.execute("ANALYZE noetl.queue")
    sql = query("lease_commands").replace("%(n)s", "10")
    sql = sql.replace("%(worker_id)s", "'w'").replace("%(lease_seconds)s", "30")
    return "\n".join(row["QUERY PLAN"] for row in conn.execute(f"EXPLAIN {sql}").fetchall())


def test_the_lease_query_uses_the_ready_index_on_100k_pending_rows(conn):
    conn.execute(
        "INSERT INTO noetl.queue (execution_id, step, tool_kind, priority)"
        " SELECT 'exec-' || (n % 1000), 'start', 'noop', n % 7"
        " FROM generate_series(1, 100000) AS n"
    )
    plan = lease_plan(conn)
    assert "idx_queue_ready" in plan, plan
    assert "Seq Scan on queue" not in plan, plan
    assert "Sort" not in plan, plan


def test_the_lease_query_stays_on_the_index_with_step_limits(conn):
    """Half the 100k pending rows belong to steps with `concurrency` (some at their limit):
    the query still walks `idx_queue_ready`, and counts a step's leases on an index of
    leased rows, never by a scan of the queue."""
    conn.execute(
        "INSERT INTO noetl.queue (execution_id, step, tool_kind, priority, step_limit, step_key)"
        " SELECT 'exec-' || (n % 1000), 's' || (n % 10), 'noop', n % 7,"
        "        CASE WHEN n % 2 = 0 THEN 2 END, CASE WHEN n % 2 = 0 THEN 'p:s' || (n % 10) END"
        " FROM generate_series(1, 100000) AS n"
    )
    conn.execute(
        "INSERT INTO noetl.queue (execution_id, step, tool_kind, status, step_limit, step_key)"
        " SELECT 'exec-l', 's0', 'noop', 'leased', 2, 'p:s0' FROM generate_series(1, 2)"
    )
    plan = lease_plan(conn)
    assert "idx_queue_ready" in plan, plan
    assert "SubPlan" in plan, plan  # the count of the step's leases
    assert "Seq Scan" not in plan, plan
    assert "Sort" not in plan, plan
