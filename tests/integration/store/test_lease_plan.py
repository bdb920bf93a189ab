"""The lease query stays on an index with 100k pending rows: it walks `idx_queue_ready`
(priority DESC, created_at, queue_id) and stops after n rows instead of sorting them."""

from __future__ import annotations

from noetl_pg.store.queries import query


def test_the_lease_query_uses_the_ready_index_on_100k_pending_rows(conn):
    conn.execute(
        "INSERT INTO noetl.queue (execution_id, step, tool_kind, priority)"
        " SELECT 'exec-' || (n % 1000), 'start', 'noop', n % 7"
        " FROM generate_series(1, 100000) AS n"
    )
    conn.execute("ANALYZE noetl.queue")
    sql = query("lease_commands").replace("%(n)s", "10")
    sql = sql.replace("%(worker_id)s", "'w'").replace("%(lease_seconds)s", "30")
    plan = "\n".join(row["QUERY PLAN"] for row in conn.execute(f"EXPLAIN {sql}").fetchall())
    assert "idx_queue_ready" in plan, plan
    assert "Seq Scan on queue" not in plan, plan
    assert "Sort" not in plan, plan
