"""The worker's side tasks are watched: a heartbeat or lease loop that dies is restarted,
and one that keeps dying makes `noetl-worker` exit non-zero, saying why.

The failures are real: a trigger makes PostgreSQL refuse the heartbeat's (or the
lease's) UPDATE with an error the loops do not expect (not a lost connection).
"""

from __future__ import annotations

import asyncio
import logging
import time

import pytest

from noetl_pg.worker.daemon import Worker
from noetl_pg.worker.watch import RestartPolicy
from tests.integration.worker.conftest import DEADLINE, insert_command, start_worker_process

SLEEPER = "import time\ndef main():\n    time.sleep(60)\n"


def refuse(conn, what: str, times: int | None) -> None:
    """Make PostgreSQL refuse the worker's `what` ('heartbeat' or 'lease') UPDATE, the
    first `times` times (a sequence counts them: it survives the rollback) or always."""
    condition = {
        "heartbeat": "OLD.status = 'leased' AND NEW.status = 'leased'"
        " AND NEW.heartbeat_at IS DISTINCT FROM OLD.heartbeat_at",
        "lease": "OLD.status = 'pending' AND NEW.status = 'leased'",
    }[what]
    limit = "true" if times is None else f"nextval('test_refusals') <= {times}"
    conn.execute("CREATE SEQUENCE test_refusals")
    conn.execute(
        f"""
        CREATE FUNCTION test_refuse() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            IF {condition} THEN
                IF {limit} THEN
                    RAISE EXCEPTION '{what} refused by the test';
                END IF;
            END IF;
            RETURN NEW;
        END $$
        """
    )
    conn.execute(
        "CREATE TRIGGER test_refuse BEFORE UPDATE ON noetl.queue"
        " FOR EACH ROW EXECUTE FUNCTION test_refuse()"
    )


def refusals(conn) -> int:
    return conn.execute("SELECT last_value FROM test_refusals").fetchone()["last_value"]


def test_a_heartbeat_that_dies_is_restarted_and_heartbeats_again(dsn, conn, caplog):
    refuse(conn, "heartbeat", times=1)
    queue_id = insert_command(conn, "python", {"code": SLEEPER})

    def heartbeat_after_refusals() -> bool:
        row = conn.execute(
            "SELECT heartbeat_at > started_at AS beat FROM noetl.queue WHERE queue_id = %s",
            [queue_id],
        ).fetchone()
        return refusals(conn) > 1 and bool(row["beat"])

    async def main() -> None:
        worker = Worker(
            dsn,
            lease_seconds=6.0,  # a heartbeat every 2 s: the lease outlives one refusal
            grace_seconds=0.1,
            restarts=RestartPolicy(delay=0.0),
        )
        task = asyncio.create_task(worker.run())
        end = time.monotonic() + DEADLINE
        while not heartbeat_after_refusals():
            assert not task.done(), "the worker stopped on its own"
            assert time.monotonic() < end, "no heartbeat got through after the restarts"
            await asyncio.sleep(0.1)
        worker.stop()
        await asyncio.wait_for(task, DEADLINE)

    with caplog.at_level(logging.ERROR, logger="noetl_pg.worker"):
        asyncio.run(main())
    deaths = [r.getMessage() for r in caplog.records if "died" in r.getMessage()]
    assert deaths == [
        "the heartbeat died (RaiseException: heartbeat refused by the test); restarting it"
        " (death 1 of 3 allowed within 300 s)"
    ]
    row = conn.execute("SELECT status FROM noetl.queue WHERE queue_id = %s", [queue_id]).fetchone()
    assert row["status"] == "pending"  # released on stop, as always


@pytest.mark.parametrize(
    ("what", "task", "command"),
    [
        ("heartbeat", "heartbeat", ("python", {"code": SLEEPER})),
        ("lease", "lease loop", ("noop", {})),
    ],
)
def test_a_side_task_that_keeps_dying_stops_the_worker_with_the_reason(
    dsn, conn, tmp_path, what, task, command
):
    refuse(conn, what, times=None)
    insert_command(conn, *command)
    log = tmp_path / "worker.log"
    process = start_worker_process(dsn, log, "--lease-seconds", "3", "--worker-id", "w-dies")
    try:
        code = process.wait(timeout=DEADLINE)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    text = log.read_text()
    assert code == 1, text
    assert text.count(f"the {task} died (RaiseException: {what} refused by the test)") == 3
    assert (
        f"noetl-worker w-dies: the {task} died 4 times within 300 s; the last time of"
        f" RaiseException: {what} refused by the test" in text
    )
    [row] = conn.execute("SELECT status FROM noetl.queue").fetchall()
    # Given back or never leased; a heartbeat that failed long enough also let the lease
    # expire and be taken back. Nothing is left leased to a worker that is gone.
    assert row["status"] == "pending" if what == "lease" else row["status"] != "leased"
