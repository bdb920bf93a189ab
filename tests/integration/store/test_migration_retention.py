"""Migrations 007 and 010 on a database that holds data: the schema it leaves equals a fresh one's,
and no row is lost."""

from __future__ import annotations

import shutil

import pytest

from noetl_pg.store.db import connect
from noetl_pg.store.migrations import available_migrations, upgrade

# The week partitions of noetl.event depend on the dates the history spans, so they are
# left out; the partitioned table itself, its default partition and the rest are compared.
SCHEMA = r"""
SELECT 'column' AS kind, table_name || '.' || column_name || ' ' || data_type AS what
  FROM information_schema.columns
 WHERE table_schema = 'noetl' AND table_name !~ '^event_\d{8}$'
UNION ALL
SELECT 'index', indexdef FROM pg_indexes
 WHERE schemaname = 'noetl' AND tablename !~ '^event_\d{8}$'
UNION ALL
SELECT 'trigger', tgname || ' on ' || tgrelid::regclass::text
  FROM pg_trigger WHERE NOT tgisinternal AND tgrelid::regclass::text !~ '^noetl.event_\d{8}$'
UNION ALL
SELECT 'function', p.oid::regprocedure::text
  FROM pg_proc p WHERE p.pronamespace = 'noetl'::regnamespace
 ORDER BY 1, 2
"""
COUNTS = """
SELECT (SELECT count(*) FROM noetl.execution) AS executions,
       (SELECT count(*) FROM noetl.event) AS events,
       (SELECT count(*) FROM noetl.queue) AS commands
"""


EVENTS = (
    "SELECT md5(string_agg(to_jsonb(e)::text, ',' ORDER BY event_id)) AS sum FROM noetl.event e"
)


def _schema(dsn: str) -> list[tuple[str, str]]:
    with connect(dsn, autocommit=True) as conn:
        return [(r["kind"], r["what"]) for r in conn.execute(SCHEMA)]


def _fill(conn) -> None:
    """1000 executions, 5000 events spread over the last ten weeks, 2000 commands."""
    conn.execute(
        """INSERT INTO noetl.execution (execution_id, status, finished_at)
           SELECT 'exec-' || g, CASE WHEN g % 2 = 0 THEN 'completed' ELSE 'running' END,
                  CASE WHEN g % 2 = 0 THEN now() END
             FROM generate_series(1, 1000) AS g"""
    )
    conn.execute("ALTER TABLE noetl.event DISABLE TRIGGER USER")  # keep created_at as given
    conn.execute(
        """INSERT INTO noetl.event (execution_id, event_type, processed_at, created_at)
           SELECT 'exec-' || (g % 1000 + 1), 'call.done', CASE WHEN g % 7 > 0 THEN now() END,
                  now() - make_interval(mins => g * 20)
             FROM generate_series(1, 5000) AS g"""
    )
    conn.execute("ALTER TABLE noetl.event ENABLE TRIGGER USER")
    conn.execute(
        """INSERT INTO noetl.queue (execution_id, step, tool_kind, status)
           SELECT 'exec-' || (g % 1000 + 1), 'start', 'noop', 'done'
             FROM generate_series(1, 2000) AS g"""
    )


@pytest.mark.parametrize("since", [7, 10])
def test_upgrading_a_database_with_rows_keeps_them_and_equals_a_fresh_schema(
    databases, tmp_path, since
):
    """From before 007 (retention) and from before 010 (the event log partitioned)."""
    older = tmp_path / "sql"
    older.mkdir()
    for migration in available_migrations():
        if migration.version < since:
            shutil.copy(migration.path, older)
    dsn = databases.fresh(migrated=False)
    upgrade(dsn, older)
    with connect(dsn, autocommit=True) as conn:
        _fill(conn)
        before = conn.execute(COUNTS).fetchone()
        events = conn.execute(EVENTS).fetchone()

    applied = upgrade(dsn)

    assert [m.version for m in applied] == [
        m.version for m in available_migrations() if m.version >= since
    ]
    with connect(dsn, autocommit=True) as conn:
        assert conn.execute(COUNTS).fetchone() == before
        assert conn.execute(EVENTS).fetchone() == events  # every event, every column
        weeks = conn.execute(
            "SELECT tableoid::regclass::text AS part, count(*) AS n FROM noetl.event GROUP BY 1"
        ).fetchall()
        # the history went into its weeks (10 weeks back, so 11 or 12), none to the default
        assert 11 <= len(weeks) <= 12
        assert "noetl.event_default" not in {w["part"] for w in weeks}
        # numbering goes on after the history
        row = conn.execute(
            "INSERT INTO noetl.event (execution_id, event_type) VALUES ('exec-1', 'call.done')"
            " RETURNING event_id"
        ).fetchone()
        assert row["event_id"] > 5000
    assert _schema(dsn) == _schema(databases.fresh())
