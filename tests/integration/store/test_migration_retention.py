"""Migration 007 on a database that holds data: the schema it leaves equals a fresh one's,
and no row is lost."""

from __future__ import annotations

import shutil

from noetl_pg.store.db import connect
from noetl_pg.store.migrations import available_migrations, upgrade

SCHEMA = """
SELECT 'column' AS kind, table_name || '.' || column_name || ' ' || data_type AS what
  FROM information_schema.columns WHERE table_schema = 'noetl'
UNION ALL
SELECT 'index', indexdef FROM pg_indexes WHERE schemaname = 'noetl'
UNION ALL
SELECT 'trigger', tgname || ' on ' || tgrelid::regclass::text
  FROM pg_trigger WHERE NOT tgisinternal
 ORDER BY 1, 2
"""
COUNTS = """
SELECT (SELECT count(*) FROM noetl.execution) AS executions,
       (SELECT count(*) FROM noetl.event) AS events,
       (SELECT count(*) FROM noetl.queue) AS commands
"""


def _schema(dsn: str) -> list[tuple[str, str]]:
    with connect(dsn, autocommit=True) as conn:
        return [(r["kind"], r["what"]) for r in conn.execute(SCHEMA)]


def test_upgrading_a_database_with_rows_keeps_them_and_equals_a_fresh_schema(databases, tmp_path):
    older = tmp_path / "sql"
    older.mkdir()
    for migration in available_migrations():
        if migration.version < 7:
            shutil.copy(migration.path, older)
    dsn = databases.fresh(migrated=False)
    upgrade(dsn, older)
    with connect(dsn, autocommit=True) as conn:
        conn.execute(
            """INSERT INTO noetl.execution (execution_id, status, finished_at)
               SELECT 'exec-' || g, CASE WHEN g % 2 = 0 THEN 'completed' ELSE 'running' END,
                      CASE WHEN g % 2 = 0 THEN now() END
                 FROM generate_series(1, 1000) AS g"""
        )
        conn.execute(
            """INSERT INTO noetl.event (execution_id, event_type, processed_at)
               SELECT 'exec-' || (g % 1000 + 1), 'call.done', now()
                 FROM generate_series(1, 5000) AS g"""
        )
        conn.execute(
            """INSERT INTO noetl.queue (execution_id, step, tool_kind, status)
               SELECT 'exec-' || (g % 1000 + 1), 'start', 'noop', 'done'
                 FROM generate_series(1, 2000) AS g"""
        )
        before = conn.execute(COUNTS).fetchone()

    applied = upgrade(dsn)

    assert [m.version for m in applied] == [
        m.version for m in available_migrations() if m.version >= 7
    ]
    with connect(dsn, autocommit=True) as conn:
        assert conn.execute(COUNTS).fetchone() == before
    assert _schema(dsn) == _schema(databases.fresh())
