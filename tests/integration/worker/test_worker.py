"""The worker loop in-process: reports, secrets, limits, fencing, leases, sub-playbooks."""

from __future__ import annotations

import asyncio
import time

from psycopg.types.json import Jsonb

from noetl_pg.engine.leader import run_pass
from noetl_pg.protocol import Lease
from noetl_pg.store.db import async_pool, connect, connect_async
from noetl_pg.store.queue import CommandQueue
from noetl_pg.worker.daemon import Worker
from noetl_pg.worker.tools.playbook import child_execution_id
from tests.integration.worker.conftest import (
    DEADLINE,
    call_done,
    insert_command,
    run_worker_until,
    unfinished,
)
from tests.support.maintenance import maintenance_pass

SECRET = "s3cr3t-value-that-must-never-be-stored"


def test_noop_reports_its_args_and_finishes_the_row(dsn, conn):
    queue_id = insert_command(conn, "noop", {}, {"x": [1, "two"]}, run_key="opaque/key:1")
    worker = run_worker_until(dsn, lambda c: unfinished(c) == 0, worker_id="w-noop")
    [event] = call_done(conn, queue_id)
    assert event["status"] == "ok"
    assert event["execution_id"] == "exec-test"
    assert event["node_name"] == "step1"
    payload = event["payload"]
    assert payload["response"] == {"x": [1, "two"]}
    assert payload["run_key"] == "opaque/key:1"
    assert payload["attempt"] == 1
    assert payload["worker_id"] == worker.worker_id == "w-noop"
    row = conn.execute("SELECT * FROM noetl.queue WHERE queue_id = %s", [queue_id]).fetchone()
    assert row["status"] == "done"
    assert row["completed_at"] is not None
    assert row["lease_expires_at"] is None


def test_unknown_tool_kind_is_a_failed_call(dsn, conn):
    queue_id = insert_command(conn, "teleport")
    run_worker_until(dsn, lambda c: unfinished(c) == 0)
    [event] = call_done(conn, queue_id)
    assert event["payload"]["error"]["kind"] == "unknown_tool"
    row = conn.execute("SELECT * FROM noetl.queue WHERE queue_id = %s", [queue_id]).fetchone()
    assert row["status"] == "failed"
    assert row["last_error"].startswith("unknown_tool:")


def test_secrets_are_resolved_at_call_time_and_never_stored(dsn, conn, http_server):
    config = {
        "endpoint": f"{http_server}/echo",
        "params": {"key": "{{ secret.api_token }}"},
        "auth": {"type": "bearer", "token": "{{ secret.API_TOKEN }}"},
    }
    env = {"NOETL_SECRET_API_TOKEN": SECRET}
    named = Jsonb({"secrets": ["api_token", "API_TOKEN", "NOPE"]})
    ok_id = insert_command(conn, "http", config, context=named)
    missing_id = insert_command(
        conn, "http", {**config, "headers": {"X": "{{ secret.NOPE }}"}}, context=named
    )
    echo_id = insert_command(conn, "noop", {}, {"token": "{{ secret.API_TOKEN }}"}, context=named)
    # A placeholder the step's templates do not name came from data: never filled in.
    smuggled_id = insert_command(conn, "noop", {}, {"token": "{{ secret.API_TOKEN }}"})
    run_worker_until(dsn, lambda c: unfinished(c) == 0, env=env)
    smuggled = call_done(conn, smuggled_id)[0]["payload"]["error"]
    assert smuggled["kind"] == "secret"
    assert "not named by this step" in smuggled["message"]

    echo = call_done(conn, ok_id)[0]["payload"]["response"]["data"]
    # The server got a real value (not the placeholder), and it is redacted in the event.
    assert echo["headers"]["authorization"] == "Bearer [secret]"
    assert echo["query"] == {"key": "[secret]"}
    missing = call_done(conn, missing_id)[0]["payload"]["error"]
    assert missing["kind"] == "secret"
    assert "NOPE" in missing["message"]
    assert call_done(conn, echo_id)[0]["payload"]["response"] == {"token": "[secret]"}
    for table in ("noetl.event", "noetl.queue"):
        dump = conn.execute(f"SELECT string_agg(t::text, ' ') AS d FROM {table} t").fetchone()
        assert SECRET not in dump["d"]


def test_result_over_the_limit_is_refused_not_stored(dsn, conn, http_server):
    big_id = insert_command(conn, "noop", {}, {"blob": "x" * 5000})
    http_id = insert_command(conn, "http", {"endpoint": f"{http_server}/big?bytes=5000"})
    small_id = insert_command(conn, "noop", {}, {"blob": "x" * 10})
    code = "def main():\n    return 'y' * 5000"
    python_id = insert_command(conn, "python", {"code": code})
    env = {"NOETL_MAX_RESULT_BYTES": "2000"}
    run_worker_until(dsn, lambda c: unfinished(c) == 0, env=env)
    for queue_id in (big_id, http_id, python_id):
        [event] = call_done(conn, queue_id)
        assert event["status"] == "error"
        assert event["payload"]["error"]["kind"] == "result_too_large"
        assert "xxxxxxxxxx" not in str(event["payload"])
        assert "yyyyyyyyyy" not in str(event["payload"])
    assert call_done(conn, small_id)[0]["status"] == "ok"


def test_priority_then_age_order(dsn, conn):
    low = insert_command(conn, "noop", priority=0)
    high = insert_command(conn, "noop", priority=5)
    later_high = insert_command(conn, "noop", priority=5)
    run_worker_until(dsn, lambda c: unfinished(c) == 0, concurrency=1)
    order = [call_done(conn, q)[0]["event_id"] for q in (high, later_high, low)]
    assert order == sorted(order)


def test_a_notification_wakes_an_idle_worker(dsn, conn):
    """With a safety timer longer than the deadline, only NOTIFY can explain the run."""

    async def scenario() -> None:
        worker = Worker(dsn, safety_interval=DEADLINE * 2)
        task = asyncio.create_task(worker.run())
        await asyncio.wait_for(worker.ready.wait(), DEADLINE)
        await asyncio.sleep(0.2)  # let the first look finish: it must go idle
        queue_id = insert_command(conn, "noop")
        await _until(lambda: call_done(conn, queue_id), task)
        worker.stop()
        await task

    asyncio.run(scenario())


def test_a_command_not_yet_available_is_run_when_it_becomes_available(dsn, conn):
    queue_id = insert_command(conn, "noop", available_at=_in_seconds(conn, 1.0))
    run_worker_until(dsn, lambda c: call_done(c, queue_id), safety_interval=DEADLINE * 2)
    created = conn.execute(
        "SELECT e.created_at >= q.available_at AS later FROM noetl.event e"
        " JOIN noetl.queue q USING (queue_id) WHERE e.queue_id = %s",
        [queue_id],
    ).fetchone()
    assert created["later"]


def test_expired_lease_is_retried_with_the_next_attempt(dsn, conn):
    queue_id = _orphaned_lease(conn, attempt=1, max_attempts=3)
    assert maintenance_pass(dsn).leases_retried == 1  # the leader takes it back
    run_worker_until(dsn, lambda c: unfinished(c) == 0)
    [event] = call_done(conn, queue_id)
    assert event["status"] == "ok"
    assert event["payload"]["attempt"] == 2


def test_lease_exhaustion_reports_lease_expired(dsn, conn):
    queue_id = _orphaned_lease(conn, attempt=3, max_attempts=3)
    assert maintenance_pass(dsn).leases_failed == 1
    [event] = call_done(conn, queue_id)
    assert event["status"] == "error"
    assert event["payload"]["error"]["kind"] == "lease_expired"
    assert event["payload"]["worker_id"] == "dead-worker"
    row = conn.execute("SELECT * FROM noetl.queue WHERE queue_id = %s", [queue_id]).fetchone()
    assert (row["status"], row["attempt"]) == ("failed", 3)


def test_a_worker_whose_lease_was_taken_cannot_report(dsn, conn):
    first = insert_command(conn, "noop")
    second = insert_command(conn, "noop")

    async def scenario() -> tuple[int | None, int | None, int | None]:
        pool = async_pool(dsn, name="test")
        await pool.open()
        try:
            queue = CommandQueue(pool, "worker-a")
            rows = await queue.lease_commands(2, 30.0)
            assert sorted(r["queue_id"] for r in rows) == [first, second]
            assert {CommandQueue.lease_of(r) for r in rows} == {
                Lease(first, "worker-a", 1),
                Lease(second, "worker-a", 1),
            }
            # Another worker took the first; the second went through expiry (attempt + 1).
            conn.execute(
                "UPDATE noetl.queue SET assigned_worker_id = 'worker-b' WHERE queue_id = %s",
                [first],
            )
            conn.execute("UPDATE noetl.queue SET attempt = 2 WHERE queue_id = %s", [second])
            payload = '{"response": "stale", "duration_ms": 1}'
            mine_a, mine_b = Lease(first, "worker-a", 1), Lease(second, "worker-a", 1)
            lost_a = await queue.report(mine_a, ok=True, payload_json=payload)
            lost_b = await queue.report(mine_b, ok=True, payload_json=payload)
            held = await queue.heartbeat([mine_a, mine_b], 30.0)
            theirs = CommandQueue(pool, "worker-b")
            ok = await theirs.report(Lease(first, "worker-b", 1), ok=True, payload_json=payload)
            return lost_a, lost_b, (held or None) and ok
        finally:
            await pool.close()

    lost_a, lost_b, held = asyncio.run(scenario())
    assert (lost_a, lost_b, held) == (None, None, None)
    assert call_done(conn, second) == []
    rows = conn.execute("SELECT queue_id, status FROM noetl.queue ORDER BY queue_id").fetchall()
    assert [r["status"] for r in rows] == ["done", "leased"]
    assert len(call_done(conn, first)) == 1


def test_a_lost_lease_cancels_the_running_command_and_reports_nothing(dsn, conn):
    code = "import time\ndef main():\n    time.sleep(60)"
    queue_id = insert_command(conn, "python", {"code": code})

    async def scenario() -> None:
        worker = Worker(dsn, lease_seconds=1.5, safety_interval=0.5)
        task = asyncio.create_task(worker.run())
        await _until(lambda: worker.running == [queue_id], task)
        conn.execute(
            "UPDATE noetl.queue SET assigned_worker_id = 'thief' WHERE queue_id = %s",
            [queue_id],
        )
        await _until(lambda: worker.running == [], task)
        worker.stop()
        await task

    asyncio.run(scenario())
    assert call_done(conn, queue_id) == []
    row = conn.execute("SELECT * FROM noetl.queue WHERE queue_id = %s", [queue_id]).fetchone()
    assert (row["status"], row["assigned_worker_id"]) == ("leased", "thief")


def test_a_command_its_own_worker_leases_again_is_held_once(dsn, conn, tmp_path):
    # The first run is short, a later one long: if the first run's end dropped the later
    # lease from the worker's books, that lease would go unheartbeated and expire.
    code = (
        "import os, time\n"
        "def main(marker):\n"
        "    first = not os.path.exists(marker)\n"
        "    open(marker, 'a').close()\n"
        "    time.sleep(1 if first else 60)\n"
    )
    marker = tmp_path / "first-run"
    queue_id = insert_command(conn, "python", {"code": code}, {"marker": str(marker)})

    def second_lease_outlived_two_leases() -> bool:
        row = conn.execute(
            "SELECT attempt, status, now() - started_at > interval '6 seconds' AS long"
            " FROM noetl.queue WHERE queue_id = %s",
            [queue_id],
        ).fetchone()
        assert row["attempt"] <= 2, "the second lease expired: nobody heartbeated it"
        return row["attempt"] == 2 and row["status"] == "leased" and row["long"]

    async def scenario() -> None:
        worker = Worker(dsn, lease_seconds=3.0, safety_interval=0.3, grace_seconds=0.1)
        task = asyncio.create_task(worker.run())
        await _until(marker.exists, task)
        # The lease runs out under the first run; the maintenance leader takes it back and
        # the same worker leases it again.
        conn.execute(
            "UPDATE noetl.queue SET lease_expires_at = now() - interval '1 second'"
            " WHERE queue_id = %s",
            [queue_id],
        )
        async with await connect_async(dsn, autocommit=True) as maintenance:
            await run_pass(maintenance)
        await _until(second_lease_outlived_two_leases, task)
        assert worker.running == [queue_id]
        worker.stop()
        await task

    asyncio.run(scenario())
    assert call_done(conn, queue_id) == []
    row = conn.execute("SELECT * FROM noetl.queue WHERE queue_id = %s", [queue_id]).fetchone()
    assert (row["status"], row["attempt"]) == ("pending", 2)  # released on stop


def test_playbook_starts_one_child_and_leaves_the_command_waiting(dsn, conn):
    config = {"path": "examples/child", "version": 2, "args": {"ignored": True}}
    queue_id = insert_command(
        conn, "playbook", config, {"n": 1}, execution_id="exec-parent", step="call_child"
    )
    run_worker_until(dsn, lambda c: unfinished(c) == 0)
    child = child_execution_id("exec-parent", queue_id)
    starts = _workflow_starts(conn, child)
    assert len(starts) == 1
    assert starts[0]["node_name"] is None
    assert starts[0]["payload"] == {
        "path": "examples/child",
        "version": 2,
        "workload": {"n": 1},
        "parent": {
            "execution_id": "exec-parent",
            "queue_id": queue_id,
            "step": "call_child",
            "run_key": "step1#1",
        },
    }
    row = conn.execute("SELECT * FROM noetl.queue WHERE queue_id = %s", [queue_id]).fetchone()
    assert (row["status"], row["lease_expires_at"]) == ("waiting", None)
    assert call_done(conn, queue_id) == []

    # A retried lease of the same command must not start a second child.
    conn.execute(
        "UPDATE noetl.queue SET status = 'pending', attempt = 2 WHERE queue_id = %s", [queue_id]
    )
    run_worker_until(dsn, lambda c: unfinished(c) == 0)
    assert len(_workflow_starts(conn, child)) == 1


def test_playbook_workload_falls_back_to_tool_config_args(dsn):
    with connect(dsn, autocommit=True) as conn:
        queue_id = insert_command(conn, "playbook", {"path": "p", "args": {"from": "config"}})
        run_worker_until(dsn, lambda c: unfinished(c) == 0)
        [start] = _workflow_starts(conn, child_execution_id("exec-test", queue_id))
    assert start["payload"]["workload"] == {"from": "config"}
    assert "version" not in start["payload"]


# --- helpers ---------------------------------------------------------------------------


async def _until(condition, task: asyncio.Task, deadline: float = DEADLINE) -> None:
    end = time.monotonic() + deadline
    while not condition():
        if task.done():
            task.result()
            raise AssertionError("the worker stopped on its own")
        if time.monotonic() > end:
            raise AssertionError("timed out")
        await asyncio.sleep(0.05)


def _in_seconds(conn, seconds: float):
    return conn.execute("SELECT now() + make_interval(secs => %s) AS t", [seconds]).fetchone()["t"]


def _orphaned_lease(conn, *, attempt: int, max_attempts: int) -> int:
    """A command leased by a worker that died: its lease already expired."""
    queue_id = insert_command(conn, "noop", attempt=attempt, max_attempts=max_attempts)
    conn.execute(
        "UPDATE noetl.queue SET status = 'leased', assigned_worker_id = 'dead-worker',"
        " lease_expires_at = now() - interval '1 second' WHERE queue_id = %s",
        [queue_id],
    )
    return queue_id


def _workflow_starts(conn, execution_id: str):
    return conn.execute(
        "SELECT * FROM noetl.event WHERE event_type = 'workflow.start' AND execution_id = %s",
        [execution_id],
    ).fetchall()
