"""The schema: migrations, the debugging queries of the user's guide, notifications."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import psycopg
import pytest

from noetl_pg.store.db import connect
from noetl_pg.store.migrations import available_migrations, current_version, upgrade

GUIDE_EVENT_QUERY = """
SELECT event_id, execution_id, event_type, node_name, status, created_at
  FROM noetl.event WHERE execution_id = 'exec-123' ORDER BY created_at;
"""
GUIDE_QUEUE_QUERY = """
SELECT queue_id, execution_id, step, tool_kind, status, attempt, created_at
  FROM noetl.queue WHERE execution_id = 'exec-123' ORDER BY created_at;
"""


def _cli_upgrade(dsn: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "noetl_pg.cli", "db", "upgrade"],
        env={**os.environ, "NOETL_DSN": dsn},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def test_upgrade_twice_in_a_row_applies_once(databases):
    dsn = databases.fresh(migrated=False)
    assert current_version(dsn) is None
    first = upgrade(dsn)
    second = upgrade(dsn)
    assert [m.version for m in first] == [m.version for m in available_migrations()]
    assert second == []
    assert current_version(dsn) == available_migrations()[-1].version


def test_two_concurrent_cli_upgrades_both_succeed(databases):
    dsn = databases.fresh(migrated=False)
    processes = [_cli_upgrade(dsn) for _ in range(2)]
    outputs = [p.communicate(timeout=60)[0] for p in processes]
    assert [p.returncode for p in processes] == [0, 0], outputs
    applied = sum(out.count("applied 001_schema") for out in outputs)
    assert applied == 1, outputs
    with connect(dsn) as conn:
        count = conn.execute("SELECT count(*) AS n FROM noetl_schema_version").fetchone()
    assert count["n"] == len(available_migrations())


def test_guide_debugging_queries_run_unchanged(conn):
    conn.execute(
        "INSERT INTO noetl.event (execution_id, event_type, node_name, status)"
        " VALUES ('exec-123', 'workflow.start', NULL, NULL)"
    )
    conn.execute(
        "INSERT INTO noetl.queue (execution_id, step, tool_kind)"
        " VALUES ('exec-123', 'start', 'noop')"
    )
    events = conn.execute(GUIDE_EVENT_QUERY).fetchall()
    queue = conn.execute(GUIDE_QUEUE_QUERY).fetchall()
    assert [e["event_type"] for e in events] == ["workflow.start"]
    assert [(q["step"], q["tool_kind"], q["status"], q["attempt"]) for q in queue] == [
        ("start", "noop", "pending", 1)
    ]


def _notifications(dsn: str, channel: str, statement: str) -> list[psycopg.Notify]:
    with psycopg.connect(dsn, autocommit=True) as listener, psycopg.connect(dsn) as writer:
        listener.execute(f"LISTEN {channel}")
        writer.execute(statement)
        writer.commit()
        return list(listener.notifies(timeout=1.0))


def test_event_insert_by_sql_notifies_the_event_channel(dsn):
    got = _notifications(
        dsn,
        "noetl_event",
        "INSERT INTO noetl.event (execution_id, event_type, payload)"
        " VALUES ('exec-123', 'workflow.start', '{\"path\": \"examples/pagination\"}')",
    )
    assert [n.channel for n in got] == ["noetl_event"]


def test_many_rows_in_one_statement_notify_once(dsn):
    got = _notifications(
        dsn,
        "noetl_queue",
        "INSERT INTO noetl.queue (execution_id, step, tool_kind)"
        " SELECT 'exec-' || g, 'start', 'noop' FROM generate_series(1, 50) g",
    )
    assert len(got) == 1


def test_already_processed_events_do_not_wake_engines(dsn):
    got = _notifications(
        dsn,
        "noetl_event",
        "INSERT INTO noetl.event (execution_id, event_type, processed_at)"
        " VALUES ('exec-1', 'step.enter', now())",
    )
    assert got == []


@pytest.mark.parametrize(
    ("column", "value"),
    [("status", "'bogus'")],
)
def test_queue_rejects_unknown_status(conn, column, value):
    with pytest.raises(psycopg.errors.CheckViolation):
        conn.execute(
            f"INSERT INTO noetl.queue (execution_id, step, tool_kind, {column})"
            f" VALUES ('e', 's', 'noop', {value})"
        )


def test_every_readme_debugging_query_runs(conn):
    """Each statement of the README's "Debugging queries" block runs as it is written."""
    readme = (Path(__file__).resolve().parents[3] / "README.md").read_text()
    section = readme.split("## Debugging queries", 1)[1]
    block = section.split("```sql", 1)[1].split("```", 1)[0]
    statements = [s.strip() for s in block.split(";") if s.strip()]
    assert len(statements) >= 5
    for statement in statements:
        conn.execute(statement).fetchall()
