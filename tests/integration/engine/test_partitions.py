"""The event log's week partitions (sql/010): created ahead by the maintenance pass, an
insert never without a partition, whole weeks dropped when every row in them is past
retention (and kept when one is not), and archive + restore across dropped weeks."""

from __future__ import annotations

import asyncio

import psycopg
import pytest

from noetl_pg.engine.leader import PassReport, run_pass
from noetl_pg.protocol import ExecutionStatus
from noetl_pg.store.db import connect, connect_async
from tests.integration.engine.test_maintenance import _maintain, _playbook, _rows, _run

DONE, RUNNING = ExecutionStatus.COMPLETED, ExecutionStatus.RUNNING


def _week(conn, ago: str) -> str:
    """The name of the partition of the week `ago` falls in."""
    row = conn.execute(
        "SELECT 'event_' || to_char(noetl.event_week(now() - %s::interval) AT TIME ZONE 'UTC',"
        " 'YYYYMMDD') AS name",
        [ago],
    ).fetchone()
    return row["name"]


def _exists(conn, name: str) -> bool:
    return (
        conn.execute("SELECT to_regclass('noetl.' || %s) AS r", [name]).fetchone()["r"] is not None
    )


def _execution(conn, execution_id: str, *, status: str, age: str, **extra: str | None) -> None:
    """An execution that started and (unless it runs) finished `age` ago, with 3 events of
    that moment and 2 commands."""
    finished = status != RUNNING
    conn.execute(
        """INSERT INTO noetl.execution (execution_id, path, version, status,
                                        parent_execution_id, created_at, finished_at)
           VALUES (%(id)s, 'plain', 1, %(status)s, %(parent)s, now() - %(age)s::interval,
                   CASE WHEN %(finished)s THEN now() - %(age)s::interval END)""",
        {"id": execution_id, "status": status, "age": age, "finished": finished, **extra},
    )
    conn.execute(
        """INSERT INTO noetl.event (execution_id, event_type, processed_at, created_at)
           SELECT %(id)s, 'call.done', now(), now() - %(age)s::interval
             FROM generate_series(1, 3)""",
        {"id": execution_id, "age": age},
    )
    conn.execute(
        """INSERT INTO noetl.queue (execution_id, step, tool_kind, status)
           SELECT %(id)s, 'start', 'noop', 'done' FROM generate_series(1, 2)""",
        {"id": execution_id},
    )


def _partition_of(conn, execution_id: str) -> set[str]:
    rows = conn.execute(
        "SELECT DISTINCT tableoid::regclass::text AS p FROM noetl.event WHERE execution_id = %s",
        [execution_id],
    )
    return {r["p"] for r in rows}


def test_maintain_drops_the_weeks_past_retention_and_keeps_a_week_with_a_running_execution(
    dsn, conn
):
    _playbook(conn, "plain")
    conn.execute("SELECT noetl.ensure_event_partitions(now() - interval '80 days', now())")
    gone, kept = _week(conn, "70 days"), _week(conn, "50 days")
    _execution(conn, "gone-a", status=DONE, age="70 days", parent=None)
    _execution(conn, "gone-b", status=ExecutionStatus.FAILED, age="70 days", parent=None)
    _execution(conn, "old-done", status=DONE, age="50 days", parent=None)
    _execution(conn, "old-running", status=RUNNING, age="50 days", parent=None)
    _execution(conn, "recent", status=DONE, age="1 day", parent=None)
    assert _partition_of(conn, "gone-a") == {f"noetl.{gone}"}
    assert _partition_of(conn, "old-running") == {f"noetl.{kept}"}

    out = _maintain(dsn)

    dropped, _, kept_part = out.partition("kept past retention:")
    assert gone in dropped and "(6 events)" in dropped, out  # empty older weeks go too
    assert kept in kept_part and kept not in dropped, out
    assert not _exists(conn, gone)
    assert _exists(conn, kept)
    # the expired rows of the kept week went with the batches, as did the dropped week's
    # executions and commands
    assert "removed past retention: 3 executions, 3 events, 6 commands" in out, out
    left = conn.execute(
        "SELECT execution_id, count(*) AS n FROM noetl.event GROUP BY 1 ORDER BY 1"
    ).fetchall()
    assert [(r["execution_id"], r["n"]) for r in left] == [("old-running", 3), ("recent", 3)]
    executions = conn.execute("SELECT execution_id FROM noetl.execution ORDER BY 1").fetchall()
    assert [r["execution_id"] for r in executions] == ["old-running", "recent"]


def test_a_week_whose_execution_has_a_running_child_is_kept(dsn, conn):
    _playbook(conn, "plain")
    conn.execute("SELECT noetl.ensure_event_partitions(now() - interval '80 days', now())")
    week = _week(conn, "70 days")
    _execution(conn, "parent", status=DONE, age="70 days", parent=None)
    # the child started this week: only the parent has rows in the old week
    _execution(conn, "child", status=RUNNING, age="1 hour", parent="parent")

    out = _maintain(dsn)

    assert f"kept past retention: {week}" in out, out
    assert _partition_of(conn, "parent") == {f"noetl.{week}"}


def test_the_pass_creates_the_coming_weeks_and_an_insert_never_lacks_a_partition(dsn, conn):
    this, nxt, after = (_week(conn, f"{-7 * n} days") for n in (0, 1, 2))
    assert all(_exists(conn, w) for w in (this, nxt, after))  # the migration made them
    conn.execute(f"DROP TABLE noetl.{nxt}, noetl.{after}")
    # an event of a week with no partition: kept in the default partition, not refused
    conn.execute(
        """INSERT INTO noetl.event (execution_id, event_type, created_at)
           VALUES ('e1', 'call.done', now() + interval '8 days')"""
    )
    assert _partition_of(conn, "e1") == {"noetl.event_default"}

    out = _maintain(dsn)

    assert "event partitions: 2 created ahead" in out, out
    assert _exists(conn, nxt) and _exists(conn, after)
    # its week exists now, and the row moved into it
    assert _partition_of(conn, "e1") == {f"noetl.{nxt}"}
    assert conn.execute("SELECT count(*) AS n FROM noetl.event_default").fetchone()["n"] == 0
    assert "event partitions: 0 created ahead" in _maintain(dsn)


def test_archive_and_restore_round_trip_across_a_dropped_week(dsn, conn, tmp_path):
    _playbook(conn, "plain")
    conn.execute("SELECT noetl.ensure_event_partitions(now() - interval '80 days', now())")
    week = _week(conn, "70 days")
    _execution(conn, "old-a", status=DONE, age="70 days", parent=None)
    _execution(conn, "old-b", status=DONE, age="69 days", parent=None)
    before = {
        t: _rows(conn, t, k)
        for t, k in (("execution", "execution_id"), ("event", "event_id"), ("queue", "queue_id"))
    }
    target = tmp_path / "old.jsonl.gz"
    cutoff = conn.execute("SELECT (now() - interval '30 days')::date::text AS d").fetchone()["d"]
    out = _run(dsn, "--to", str(target), "--before", cutoff, action="archive")
    assert "archived 2 executions, 6 events, 4 commands" in out.stdout, out.stderr
    assert "(6 events)" in _maintain(dsn)
    assert not _exists(conn, week)
    assert conn.execute("SELECT count(*) AS n FROM noetl.execution").fetchone()["n"] == 0

    back = _run(dsn, str(target), action="restore")

    assert "restored 2 executions, 6 events, 4 commands" in back.stdout, back.stderr
    after = {
        t: _rows(conn, t, k)
        for t, k in (("execution", "execution_id"), ("event", "event_id"), ("queue", "queue_id"))
    }
    assert after == before
    # their week is gone, so the restored events wait in the default partition
    assert _partition_of(conn, "old-a") == {"noetl.event_default"}


def test_the_leader_reads_a_kept_week_again_only_after_a_while(dsn, conn):
    _playbook(conn, "plain")
    conn.execute("SELECT noetl.ensure_event_partitions(now() - interval '80 days', now())")
    week = _week(conn, "70 days")
    _execution(conn, "long", status=RUNNING, age="70 days", parent=None)

    async def one_pass(kept: dict[str, float]) -> PassReport:
        async with await connect_async(dsn, autocommit=True) as leader:
            return await run_pass(leader, retention="30d", kept=kept)

    kept: dict[str, float] = {}
    assert week in asyncio.run(one_pass(kept)).partitions_kept
    assert week in kept
    # it ends long ago: the week may go, but the leader does not read it again yet
    conn.execute(
        "UPDATE noetl.execution SET status = 'completed', finished_at = now() - interval '69 days'"
    )
    assert week in asyncio.run(one_pass(kept)).partitions_kept
    kept[week] = 0.0  # the while has passed
    assert week in asyncio.run(one_pass(kept)).partitions_dropped
    assert not _exists(conn, week)


def test_a_week_is_not_created_while_a_long_transaction_holds_the_default(dsn, conn):
    nxt = _week(conn, "-7 days")
    conn.execute(f"DROP TABLE noetl.{nxt}")
    with connect(dsn) as reader:
        reader.execute("SELECT count(*) FROM noetl.event")  # holds noetl.event_default
        out = _maintain(dsn)  # waits a second for the lock, then goes on
        assert "event partitions: 0 created ahead" in out, out
        assert not _exists(conn, nxt)
        reader.rollback()
    assert "event partitions: 1 created ahead" in _maintain(dsn)


def test_a_partition_is_only_ever_a_whole_week(conn):
    with pytest.raises(psycopg.errors.RaiseException, match="is not the start of a week"):
        conn.execute("SELECT noetl.create_event_partition(now())")
    with pytest.raises(psycopg.errors.RaiseException, match=r"no week partition noetl\.queue"):
        conn.execute("SELECT noetl.drop_expired_event_partition('queue', '1 day')")
