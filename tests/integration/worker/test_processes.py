"""Real `noetl-worker` processes, real signals: exactly-once reporting under crashes."""

from __future__ import annotations

import signal
import subprocess

import pytest

from tests.integration.worker.conftest import (
    DEADLINE,
    call_done,
    insert_command,
    start_worker_process,
    unfinished,
)
from tests.support.maintenance import reclaim_expired_leases
from tests.support.processes import wait_until

# Runs long the first time (until its process is killed), briefly ever after.
MARKED_SLEEP = """
import os, time
def main(marker, first_sleep, later_sleep):
    first = not os.path.exists(marker)
    open(marker, "a").close()
    time.sleep(first_sleep if first else later_sleep)
    return {"first": first}
"""


def _stop(process: subprocess.Popen, signum: int = signal.SIGTERM) -> int:
    if process.poll() is None:
        process.send_signal(signum)
    return process.wait(timeout=DEADLINE)


@pytest.fixture
def processes():
    started: list[subprocess.Popen] = []
    yield started
    for process in started:
        if process.poll() is None:
            process.kill()
            process.wait()


def test_two_workers_run_500_commands_each_exactly_once(dsn, conn, tmp_path, processes):
    conn.execute(
        "INSERT INTO noetl.queue (execution_id, step, tool_kind, tool_config, args, run_key)"
        " SELECT 'exec-' || (g % 7), 'step', 'noop', '{}', jsonb_build_object('i', g), 'k' || g"
        "   FROM generate_series(1, 500) g"
    )
    for name in ("a", "b"):
        processes.append(
            start_worker_process(
                dsn, tmp_path / f"{name}.log", "--worker-id", name, "--concurrency", "8"
            )
        )
    wait_until(lambda: unfinished(conn) == 0, "all 500 commands finished", timeout=60)
    assert [_stop(p) for p in processes] == [0, 0]
    counts = conn.execute(
        "SELECT q.queue_id, count(e.event_id) AS n, min(e.payload ->> 'worker_id') AS worker"
        "  FROM noetl.queue q LEFT JOIN noetl.event e"
        "    ON e.queue_id = q.queue_id AND e.event_type = 'call.done'"
        " GROUP BY q.queue_id"
    ).fetchall()
    assert len(counts) == 500
    assert {row["n"] for row in counts} == {1}
    statuses = conn.execute("SELECT DISTINCT status FROM noetl.queue").fetchall()
    assert statuses == [{"status": "done"}]
    responses = conn.execute(
        "SELECT count(*) AS n FROM noetl.event e JOIN noetl.queue q USING (queue_id)"
        " WHERE e.payload -> 'response' = q.args"
    ).fetchone()
    assert responses["n"] == 500


def test_sigkill_mid_command_is_run_again_after_the_lease_expires(dsn, conn, tmp_path, processes):
    marker = tmp_path / "started"
    queue_id = insert_command(
        conn,
        "python",
        {"code": MARKED_SLEEP},
        {"marker": str(marker), "first_sleep": 600, "later_sleep": 0},
    )
    options = ("--lease-seconds", "2")
    doomed = start_worker_process(dsn, tmp_path / "doomed.log", "--worker-id", "doomed", *options)
    processes.append(doomed)
    wait_until(marker.exists, "the first worker is running the command")
    doomed.kill()
    doomed.wait()
    reclaim_expired_leases(dsn)  # what the engines' maintenance leader does
    survivor = start_worker_process(
        dsn, tmp_path / "survivor.log", "--worker-id", "survivor", *options
    )
    processes.append(survivor)
    wait_until(lambda: call_done(conn, queue_id), "the command was run again")
    assert _stop(survivor) == 0
    [event] = call_done(conn, queue_id)
    assert event["status"] == "ok"
    assert event["payload"]["response"] == {"first": False}
    assert event["payload"]["attempt"] == 2
    assert event["payload"]["worker_id"] == "survivor"


def test_sigterm_lets_a_running_command_finish(dsn, conn, tmp_path, processes):
    marker = tmp_path / "started"
    queue_id = insert_command(
        conn,
        "python",
        {"code": MARKED_SLEEP},
        {"marker": str(marker), "first_sleep": 0.5, "later_sleep": 0.5},
    )
    worker = start_worker_process(dsn, tmp_path / "w.log", "--grace-seconds", str(DEADLINE))
    processes.append(worker)
    wait_until(marker.exists, "the command is running")
    assert _stop(worker) == 0
    [event] = call_done(conn, queue_id)
    assert event["status"] == "ok"


def test_sigterm_releases_what_does_not_finish_within_the_grace_period(
    dsn, conn, tmp_path, processes
):
    marker = tmp_path / "started"
    queue_id = insert_command(
        conn,
        "python",
        {"code": MARKED_SLEEP},
        {"marker": str(marker), "first_sleep": 600, "later_sleep": 600},
    )
    waiting = insert_command(conn, "noop", available_at=_later(conn))
    worker = start_worker_process(dsn, tmp_path / "w.log", "--grace-seconds", "0.2")
    processes.append(worker)
    wait_until(marker.exists, "the command is running")
    assert _stop(worker) == 0
    assert call_done(conn, queue_id) == []
    row = conn.execute("SELECT * FROM noetl.queue WHERE queue_id = %s", [queue_id]).fetchone()
    assert (row["status"], row["attempt"], row["assigned_worker_id"]) == ("pending", 1, None)
    untouched = conn.execute("SELECT * FROM noetl.queue WHERE queue_id = %s", [waiting]).fetchone()
    assert untouched["status"] == "pending"
    log = (tmp_path / "w.log").read_text()
    assert "released 1 unfinished" in log


def test_sigint_is_a_graceful_stop_too(dsn, tmp_path, processes):
    worker = start_worker_process(dsn, tmp_path / "w.log")
    processes.append(worker)
    wait_until(lambda: "started" in (tmp_path / "w.log").read_text(), "the worker started")
    assert _stop(worker, signal.SIGINT) == 0


def test_a_python_tool_that_exits_does_not_stop_the_worker_process(dsn, conn, tmp_path, processes):
    exits = insert_command(conn, "python", {"code": "import os\ndef main():\n    os._exit(1)"})
    worker = start_worker_process(dsn, tmp_path / "w.log", "--concurrency", "1")
    processes.append(worker)
    wait_until(lambda: call_done(conn, exits), "the exiting command was reported")
    after = insert_command(conn, "noop", {}, {"ok": True})
    wait_until(lambda: call_done(conn, after), "the worker kept working")
    assert worker.poll() is None
    assert _stop(worker) == 0
    assert call_done(conn, exits)[0]["payload"]["error"]["kind"] == "python"


def _later(conn):
    return conn.execute("SELECT now() + interval '1 hour' AS t").fetchone()["t"]
