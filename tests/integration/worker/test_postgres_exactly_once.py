"""SQL on the orchestrator's own database commits with its report: exactly-once effects."""

from __future__ import annotations

from tests.integration.worker.conftest import (
    call_done,
    insert_command,
    run_one,
    run_worker_until,
)


def rows_in(conn, table: str) -> int:
    return conn.execute(f"SELECT count(*) AS n FROM {table}").fetchone()["n"]


def test_sql_effect_and_report_commit_together(dsn, conn):
    conn.execute("CREATE TABLE public.effects (k text PRIMARY KEY)")
    event = run_one(dsn, "postgres", {"command": "INSERT INTO public.effects VALUES ('a')"})
    assert event["status"] == "ok"
    assert rows_in(conn, "public.effects") == 1


def test_fenced_out_worker_rolls_its_sql_back(dsn, conn):
    """The lease is taken away while the SQL runs: the insert must not survive."""
    conn.execute("CREATE TABLE public.effects (k text PRIMARY KEY)")
    queue_id = insert_command(
        conn,
        "postgres",
        {"command": "INSERT INTO public.effects VALUES ('a'); SELECT pg_sleep(1.5)"},
    )

    def stolen_then_settled(c) -> bool:
        row = c.execute(
            "SELECT status, assigned_worker_id FROM noetl.queue WHERE queue_id = %s", [queue_id]
        ).fetchone()
        if row["status"] == "leased" and row["assigned_worker_id"] != "thief":
            c.execute(
                "UPDATE noetl.queue SET assigned_worker_id = 'thief' WHERE queue_id = %s",
                [queue_id],
            )
            return False
        # settled: the worker gave up (the statement ended and nothing was reported)
        idle = c.execute(
            "SELECT count(*) AS n FROM pg_stat_activity WHERE query LIKE '%%pg_sleep(1.5)%%'"
            " AND state = 'active' AND pid <> pg_backend_pid()"
        ).fetchone()
        return row["assigned_worker_id"] == "thief" and idle["n"] == 0

    run_worker_until(dsn, stolen_then_settled, lease_seconds=30.0)
    assert call_done(conn, queue_id) == []
    assert rows_in(conn, "public.effects") == 0


def test_result_refused_for_size_undoes_the_effect(dsn, conn):
    conn.execute("CREATE TABLE public.effects (k text PRIMARY KEY)")
    event = run_one(
        dsn,
        "postgres",
        {"query": "INSERT INTO public.effects VALUES ('a') RETURNING repeat('x', 5000) AS big"},
        max_result_bytes=1000,
    )
    assert event["status"] == "error"
    assert event["payload"]["error"]["kind"] == "result_too_large"
    assert rows_in(conn, "public.effects") == 0


def test_sql_error_is_reported_and_leaves_no_partial_effect(dsn, conn):
    conn.execute("CREATE TABLE public.effects (k text PRIMARY KEY)")
    event = run_one(
        dsn,
        "postgres",
        {
            "command": "INSERT INTO public.effects VALUES ('a');"
            " INSERT INTO public.effects VALUES ('a')"
        },
    )
    assert event["payload"]["error"]["kind"] == "sql"
    assert event["payload"]["error"]["sqlstate"] == "23505"
    assert rows_in(conn, "public.effects") == 0
