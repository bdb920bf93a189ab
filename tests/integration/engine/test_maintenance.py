"""The maintenance leader and `noetl-pg db maintain`: leases taken back, history past
retention removed, and nothing of a running execution (or one whose parent runs) touched."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from pathlib import Path

from noetl_pg.engine.leader import MaintenanceLeader
from noetl_pg.protocol import CommandStatus, ExecutionStatus
from noetl_pg.store.db import connect_async
from tests.support.catalog import register_playbook

WORKTREE = str(Path(__file__).resolve().parents[3])

PLAYBOOK = """\
apiVersion: noetl.io/v2
kind: Playbook
metadata:
  name: {name}
{retention}workflow:
  - step: start
    tool: {{kind: noop}}
"""


def _playbook(conn, name: str, retention: str | None = None) -> None:
    line = f"retention: {retention}\n" if retention else ""
    register_playbook(conn, PLAYBOOK.format(name=name, retention=line))


def _execution(
    conn, execution_id: str, *, path: str, status: str, age: str, parent: str | None = None
) -> None:
    """An execution finished (or started, if it runs) `age` ago, with 3 events and 2 commands."""
    finished = status not in (ExecutionStatus.PENDING, ExecutionStatus.RUNNING)
    conn.execute(
        """INSERT INTO noetl.execution (execution_id, path, version, status,
                                        parent_execution_id, created_at, finished_at)
           VALUES (%(id)s, %(path)s, 1, %(status)s, %(parent)s, now() - %(age)s::interval,
                   CASE WHEN %(finished)s THEN now() - %(age)s::interval END)""",
        {
            "id": execution_id,
            "path": path,
            "status": status,
            "parent": parent,
            "age": age,
            "finished": finished,
        },
    )
    conn.execute(
        """INSERT INTO noetl.event (execution_id, event_type, processed_at)
           SELECT %(id)s, 'call.done', now() FROM generate_series(1, 3)""",
        {"id": execution_id},
    )
    conn.execute(
        """INSERT INTO noetl.queue (execution_id, step, tool_kind, status)
           SELECT %(id)s, 'start', 'noop', %(status)s FROM generate_series(1, 2)""",
        {"id": execution_id, "status": CommandStatus.DONE},
    )


def _run(
    dsn: str, *args: str, action: str = "maintain", **env: str
) -> subprocess.CompletedProcess[str]:
    """`noetl-pg db <action>` of this worktree, as a process of its own."""
    return subprocess.run(
        [sys.executable, "-m", "noetl_pg.cli", "db", action, *args],
        env={**os.environ, "NOETL_DSN": dsn, "PYTHONPATH": WORKTREE, **env},
        capture_output=True,
        text=True,
        timeout=60,
    )


def _maintain(dsn: str) -> str:
    done = _run(dsn, NOETL_RETENTION="30d")
    assert done.returncode == 0, done.stderr
    return done.stdout


def _left(conn, table: str) -> dict[str, int]:
    rows = conn.execute(
        f"SELECT execution_id, count(*) AS n FROM noetl.{table} GROUP BY execution_id"
    ).fetchall()
    return {row["execution_id"]: row["n"] for row in rows}


def test_db_maintain_removes_exactly_the_executions_past_retention(dsn, conn):
    _playbook(conn, "plain")
    _playbook(conn, "short", retention="1d")
    _playbook(conn, "long", retention="90d")
    done, running = ExecutionStatus.COMPLETED, ExecutionStatus.RUNNING
    _execution(conn, "old-done", path="plain", status=done, age="40 days")
    _execution(conn, "old-failed", path="plain", status=ExecutionStatus.FAILED, age="31 days")
    _execution(conn, "old-running", path="plain", status=running, age="400 days")
    _execution(conn, "old-child", path="plain", status=done, age="40 days", parent="old-running")
    _execution(conn, "old-parent", path="plain", status=done, age="40 days")
    _execution(conn, "live-child", path="plain", status=running, age="1 day", parent="old-parent")
    _execution(conn, "recent", path="plain", status=done, age="29 days")
    _execution(conn, "short-expired", path="short", status=done, age="2 days")
    _execution(conn, "long-kept", path="long", status=done, age="40 days")

    out = _maintain(dsn)

    assert "removed past retention: 3 executions, 9 events, 6 commands" in out
    kept = {"old-running", "old-child", "old-parent", "live-child", "recent", "long-kept"}
    executions = {
        r["execution_id"] for r in conn.execute("SELECT execution_id FROM noetl.execution")
    }
    assert executions == kept
    assert _left(conn, "event") == dict.fromkeys(kept, 3)
    assert _left(conn, "queue") == dict.fromkeys(kept, 2)
    assert "removed past retention: 0 executions" in _maintain(dsn)


def test_db_maintain_takes_back_expired_leases(dsn, conn):
    conn.execute(
        """INSERT INTO noetl.queue (execution_id, step, tool_kind, status, assigned_worker_id,
                                    lease_expires_at)
           VALUES ('e1', 'start', 'noop', %s, 'gone', now() - interval '1 minute')""",
        [CommandStatus.LEASED],
    )
    assert "expired leases: 1 retried, 0 failed" in _maintain(dsn)
    row = conn.execute("SELECT status, attempt FROM noetl.queue").fetchone()
    assert (row["status"], row["attempt"]) == (CommandStatus.PENDING, 2)


def test_db_maintain_refuses_a_bad_retention(dsn):
    done = _run(dsn, "--retention", "forever")
    assert done.returncode == 2
    assert "--retention: retention must be a whole number and a unit" in done.stderr


async def _until(condition, tries: int = 500) -> None:
    for _ in range(tries):
        if condition():
            return
        await asyncio.sleep(0.02)
    raise AssertionError("condition never held")


def test_one_leader_at_a_time_and_the_next_takes_over(dsn):
    async def scenario() -> None:
        first, second = (MaintenanceLeader(dsn, f"engine-{n}", interval=0.05) for n in (1, 2))
        stop_first, stop_second = asyncio.Event(), asyncio.Event()
        run_first = asyncio.create_task(first.run(stop_first))
        await _until(first.leading.is_set)
        run_second = asyncio.create_task(second.run(stop_second))
        async with await connect_async(dsn, autocommit=True) as probe:
            # the lock is held: the second engine cannot have it either
            row = await (
                await probe.execute("SELECT pg_try_advisory_lock(7003, 0) AS got")
            ).fetchone()
            assert row["got"] is False
        assert not second.leading.is_set()
        stop_first.set()
        await run_first
        await _until(second.leading.is_set)
        stop_second.set()
        await run_second

    asyncio.run(scenario())


def test_db_maintain_refuses_a_bad_noetl_retention(dsn):
    done = _run(dsn, NOETL_RETENTION="1y")
    assert done.returncode == 2
    assert "NOETL_RETENTION: retention must be a whole number and a unit" in done.stderr
    assert "'1y'" in done.stderr


def _rows(conn, table: str, key: str) -> list[dict]:
    return [
        r["row"]
        for r in conn.execute(f"SELECT to_jsonb(t) AS row FROM noetl.{table} t ORDER BY {key}")
    ]


def test_archive_and_restore_round_trip_finished_executions(dsn, conn, tmp_path):
    _playbook(conn, "plain")
    done = ExecutionStatus.COMPLETED
    _execution(conn, "old-a", path="plain", status=done, age="40 days")
    _execution(conn, "old-b", path="plain", status=ExecutionStatus.FAILED, age="50 days")
    _execution(conn, "old-running", path="plain", status=ExecutionStatus.RUNNING, age="60 days")
    _execution(conn, "recent", path="plain", status=done, age="1 day")
    before = {
        t: _rows(conn, t, k)
        for t, k in (("execution", "execution_id"), ("event", "event_id"), ("queue", "queue_id"))
    }
    cutoff = conn.execute("SELECT (now() - interval '30 days')::date::text AS d").fetchone()["d"]
    target = tmp_path / "old.jsonl.gz"

    out = _run(dsn, "--to", str(target), "--before", cutoff, action="archive")
    assert out.returncode == 0, out.stderr
    assert "archived 2 executions, 6 events, 4 commands" in out.stdout
    conn.execute("DELETE FROM noetl.event WHERE execution_id IN ('old-a', 'old-b')")
    conn.execute("DELETE FROM noetl.queue WHERE execution_id IN ('old-a', 'old-b')")
    conn.execute("DELETE FROM noetl.execution WHERE execution_id IN ('old-a', 'old-b')")

    back = _run(dsn, str(target), action="restore")
    assert back.returncode == 0, back.stderr
    assert "restored 2 executions, 6 events, 4 commands" in back.stdout
    after = {
        t: _rows(conn, t, k)
        for t, k in (("execution", "execution_id"), ("event", "event_id"), ("queue", "queue_id"))
    }
    assert after == before
    unprocessed = conn.execute("SELECT count(*) AS n FROM noetl.event WHERE processed_at IS NULL")
    assert unprocessed.fetchone()["n"] == 0


def test_archive_refuses_a_bad_date(dsn, tmp_path):
    out = _run(dsn, "--before", "last week", "--to", str(tmp_path / "x.gz"), action="archive")
    assert out.returncode == 2
    assert "not an ISO date or timestamp" in out.stderr
