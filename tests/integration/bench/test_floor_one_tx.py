"""The one-transaction floor's report: one statement finishes the command, applies its
event and leases the chain's next command to the same worker; when another session holds
the execution's lock, the event is left for the engine and nothing is leased."""

from __future__ import annotations

import json

import psycopg
import pytest

from bench.sql import q
from noetl_pg.protocol import CommandStatus


@pytest.fixture
def floor(databases):
    dsn = databases.fresh(migrated=False)
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(q("baseline_schema"))
        yield conn


def _leased(conn, execution_id: str, step: int, steps: int) -> int:
    return conn.execute(
        "INSERT INTO noetl_bench.queue (execution_id, step, steps, status, worker_id)"
        " VALUES (%s, %s, %s, %s, 'w1') RETURNING queue_id",
        (execution_id, step, steps, CommandStatus.LEASED),
    ).fetchone()[0]


def _report(conn, queue_ids: list[int], worker_id: str = "w1") -> list[tuple]:
    payloads = [json.dumps({"n": k}) for k in range(len(queue_ids))]
    params = {"queue_ids": queue_ids, "payloads": payloads, "worker_id": worker_id}
    return conn.execute(q("one_tx_report"), params).fetchall()


def test_the_report_applies_and_leases_the_next_commands_in_one_statement(floor):
    first, other = _leased(floor, "a", 0, 3), _leased(floor, "b", 1, 2)

    following = _report(floor, [first, other])

    assert [(r[1], r[2]) for r in following] == [("a", 1)]  # b's step 1 was its last
    events = floor.execute(
        "SELECT execution_id, step, processed_at IS NOT NULL FROM noetl_bench.event ORDER BY 1"
    ).fetchall()
    assert events == [("a", 0, True), ("b", 1, True)]
    statuses = floor.execute(
        "SELECT execution_id, step, status, worker_id FROM noetl_bench.queue ORDER BY queue_id"
    ).fetchall()
    done, leased = CommandStatus.DONE, CommandStatus.LEASED  # the floor's queue mimics noetl's
    assert statuses == [("a", 0, done, "w1"), ("b", 1, done, "w1"), ("a", 1, leased, "w1")]
    state = floor.execute("SELECT execution_id, step FROM noetl_bench.state ORDER BY 1").fetchall()
    assert state == [("a", 0), ("b", 1)]


def test_a_locked_execution_is_left_to_the_engine(floor):
    queue_id = _leased(floor, "a", 0, 3)
    dsn = floor.info.dsn
    with psycopg.connect(dsn) as holder:
        holder.execute("SELECT pg_advisory_xact_lock(hashtext('a'))")

        assert _report(floor, [queue_id]) == []

    assert floor.execute(
        "SELECT processed_at IS NULL FROM noetl_bench.event WHERE execution_id = 'a'"
    ).fetchone() == (True,)
    assert floor.execute("SELECT count(*) FROM noetl_bench.state").fetchone() == (0,)


def test_a_report_from_another_worker_is_fenced_out(floor):
    queue_id = _leased(floor, "a", 0, 3)

    assert _report(floor, [queue_id], worker_id="w2") == []

    assert floor.execute("SELECT count(*) FROM noetl_bench.event").fetchone() == (0,)
