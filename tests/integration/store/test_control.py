"""`store/control.py` and `store/idempotency.py` on a real database: what a client event
writes, what is refused (and then left behind: nothing), waiting for an engine."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from psycopg import AsyncConnection

from noetl_pg.protocol import CallStatus, CommandStatus, EventName, Lease
from noetl_pg.store import errors
from noetl_pg.store.control import Accepted, AppliedWaiter, ClientEvents
from noetl_pg.store.db import async_pool, connect_async
from noetl_pg.store.idempotency import Answer, answer_once
from tests.support.catalog import register_playbook

HELLO = """\
apiVersion: noetl.io/v2
kind: Playbook
metadata: {name: hello, path: examples/hello}
workflow:
  - step: start
    tool: {kind: noop}
"""


def on_database(dsn: str, scenario: Callable[[AsyncConnection], Awaitable[Any]]) -> Any:
    async def run() -> Any:
        async with await connect_async(dsn, autocommit=True) as conn:
            return await scenario(conn)

    return asyncio.run(run())


def events(conn) -> list[dict[str, Any]]:
    return conn.execute(
        "SELECT execution_id, event_type, payload, processed_at FROM noetl.event ORDER BY event_id"
    ).fetchall()


def leased_command(conn, *, worker: str = "w1", attempt: int = 1) -> int:
    conn.execute(
        "INSERT INTO noetl.execution (execution_id, path, status) "
        "VALUES ('exec-w', 'examples/hello', 'running')"
    )
    return conn.execute(
        "INSERT INTO noetl.queue (execution_id, step, tool_kind, status, assigned_worker_id,"
        " attempt, run_key, lease_expires_at) VALUES ('exec-w', 'start', 'http', 'leased',"
        " %s, %s, 'start#1/0/1', now() + interval '1 hour') RETURNING queue_id",
        [worker, attempt],
    ).fetchone()["queue_id"]


async def as_is(answer: Answer) -> Answer:
    return answer


def test_a_start_is_one_unprocessed_event_and_a_second_start_of_its_id_is_refused(dsn, conn):
    register_playbook(conn, HELLO)

    async def scenario(aconn: AsyncConnection) -> None:
        control = ClientEvents(aconn)
        accepted = await control.start_execution(
            "examples/hello", workload={"n": 1}, execution_id="exec-1", extra={"note": "x"}
        )
        assert accepted.execution_id == "exec-1"
        with pytest.raises(errors.ExecutionExists, match="'exec-1' was already started"):
            await control.start_execution("examples/hello", execution_id="exec-1")
        with pytest.raises(errors.PlaybookNotFound, match="'examples/hello' version 2"):
            await control.start_execution("examples/hello", version=2)
        with pytest.raises(errors.PlaybookNotFound, match="'no/such'"):
            await control.start_execution("no/such")

    on_database(dsn, scenario)
    (row,) = events(conn)
    assert row["event_type"] == EventName.WORKFLOW_START
    assert row["payload"] == {"path": "examples/hello", "workload": {"n": 1}, "note": "x"}
    assert row["processed_at"] is None


def test_concurrent_starts_of_one_id_write_one_event(dsn, conn):
    register_playbook(conn, HELLO)

    async def start_once() -> str:
        async with await connect_async(dsn, autocommit=True) as aconn:
            try:
                await ClientEvents(aconn).start_execution("examples/hello", execution_id="e")
            except errors.ExecutionExists:
                return "refused"
            return "started"

    async def race() -> list[str]:
        return await asyncio.gather(*(start_once() for _ in range(6)))

    assert sorted(asyncio.run(race())) == ["refused"] * 5 + ["started"]
    assert len(events(conn)) == 1


def test_cancel_needs_an_unfinished_execution(dsn, conn):
    register_playbook(conn, HELLO)
    conn.execute(
        "INSERT INTO noetl.execution (execution_id, path, status) "
        "VALUES ('exec-done', 'examples/hello', 'completed')"
    )

    async def scenario(aconn: AsyncConnection) -> None:
        control = ClientEvents(aconn)
        with pytest.raises(errors.ExecutionNotFound):
            await control.cancel_execution("exec-none")
        with pytest.raises(errors.ExecutionFinished) as finished:
            await control.cancel_execution("exec-done")
        assert finished.value.details == {"execution_id": "exec-done", "status": "completed"}
        # A start no engine applied yet reads as pending: it can be cancelled.
        await control.start_execution("examples/hello", execution_id="exec-p")
        await control.cancel_execution("exec-p", "changed my mind")

    on_database(dsn, scenario)
    assert [(r["event_type"], r["payload"]) for r in events(conn)] == [
        (EventName.WORKFLOW_START, {"path": "examples/hello"}),
        (EventName.WORKFLOW_CANCEL, {"reason": "changed my mind"}),
    ]


def test_call_done_is_fenced_by_the_lease(dsn, conn):
    queue_id = leased_command(conn, worker="w1")

    async def scenario(aconn: AsyncConnection) -> None:
        control = ClientEvents(aconn)
        with pytest.raises(errors.LeaseNotHeld) as lost:
            await control.report_call_done(Lease(queue_id, "w2", 1), {"response": 1})
        assert lost.value.details["assigned_worker_id"] == "w1"
        with pytest.raises(errors.CommandNotFound):
            await control.report_call_done(Lease(999_999, "w1", 1), {"response": 1})
        with pytest.raises(errors.CommandOfAnotherExecution):
            await control.report_call_done(
                Lease(queue_id, "w1", 1), {"response": 1}, execution_id="exec-other"
            )
        error = {"kind": "http_status", "message": "503 from upstream"}
        accepted = await control.report_call_done(Lease(queue_id, "w1", 1), {"error": error})
        assert accepted.execution_id == "exec-w"

    on_database(dsn, scenario)
    (event,) = conn.execute("SELECT status, payload FROM noetl.event").fetchall()
    assert event["status"] == CallStatus.ERROR
    assert event["payload"]["error"] == {"kind": "http_status", "message": "503 from upstream"}
    command = conn.execute("SELECT status, last_error FROM noetl.queue").fetchone()
    assert command == {"status": CommandStatus.FAILED, "last_error": "503 from upstream"}


def test_a_refusal_inside_the_callers_transaction_undoes_only_the_refused_write(dsn, conn):
    register_playbook(conn, HELLO)

    async def scenario(aconn: AsyncConnection) -> None:
        async with aconn.transaction():
            control = ClientEvents(aconn)
            await control.start_execution("examples/hello", execution_id="exec-a")
            with pytest.raises(errors.ExecutionExists):
                await control.start_execution("examples/hello", execution_id="exec-a")
            await control.start_execution("examples/hello", execution_id="exec-b")

    on_database(dsn, scenario)
    assert [row["execution_id"] for row in events(conn)] == ["exec-a", "exec-b"]


def test_a_key_writes_once_replays_its_answer_and_refuses_another_request(dsn, conn):
    register_playbook(conn, HELLO)
    writes: list[Accepted] = []

    async def write(aconn: AsyncConnection) -> Answer:
        accepted = await ClientEvents(aconn).start_execution("examples/hello")
        writes.append(accepted)
        return Answer({"event_id": accepted.event_id}, 202)

    async def settled(answer: Answer) -> Answer:
        return Answer({**answer.body, "settled": True}, 200)

    async def scenario() -> None:
        pool = async_pool(dsn, name="test-idempotency")
        await pool.open()
        try:
            first, replayed = await answer_once(pool, "k", "fp-1", write, as_is)
            assert not replayed and first.status == 202
            again, replayed = await answer_once(pool, "k", "fp-1", write, settled)
            assert replayed and again == Answer({**first.body, "settled": True}, 200)
            latest, _ = await answer_once(pool, "k", "fp-1", write, as_is)
            assert latest == again  # the settled answer replaced the stored one
            with pytest.raises(errors.IdempotencyKeyReused):
                await answer_once(pool, "k", "fp-2", write, as_is)
            _, replayed = await answer_once(pool, None, "fp-1", write, as_is)
            assert not replayed
        finally:
            await pool.close()

    asyncio.run(scenario())
    assert len(writes) == 2  # the keyed request once, the request without a key once
    assert len(events(conn)) == 2


def test_a_refused_write_leaves_its_key_unused(dsn, conn):
    async def write(aconn: AsyncConnection) -> Answer:
        await ClientEvents(aconn).start_execution("not/registered")
        raise AssertionError("the start above is refused")

    async def scenario() -> None:
        pool = async_pool(dsn, name="test-idempotency")
        await pool.open()
        try:
            with pytest.raises(errors.PlaybookNotFound):
                await answer_once(pool, "k", "fp", write, as_is)
        finally:
            await pool.close()

    asyncio.run(scenario())
    assert conn.execute("SELECT count(*) AS n FROM noetl.idempotency").fetchone()["n"] == 0


def test_the_waiter_answers_once_an_engine_applied_the_event(dsn, conn):
    register_playbook(conn, HELLO)

    async def scenario() -> None:
        pool = async_pool(dsn, name="test-waiter")
        await pool.open()
        waiter = AppliedWaiter(pool)
        waiter.start()
        try:
            async with pool.connection() as aconn:
                accepted = await ClientEvents(aconn).start_execution("examples/hello")
            assert await waiter.wait(accepted, 0) is None
            waiting = asyncio.create_task(waiter.wait(accepted, 60))
            async with pool.connection() as aconn:  # what an engine does when it applies it
                await aconn.execute(
                    "UPDATE noetl.event SET processed_at = now(), commands_generated = 2,"
                    " error = 'refused for the test' WHERE event_id = %s",
                    [accepted.event_id],
                )
            applied = await waiting
            assert applied is not None
            assert (applied.event_id, applied.commands_generated) == (accepted.event_id, 2)
            assert applied.error == "refused for the test"
        finally:
            await waiter.stop()
            await pool.close()

    asyncio.run(scenario())
