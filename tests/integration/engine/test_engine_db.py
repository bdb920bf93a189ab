"""The engine on a real PostgreSQL, with commands completed by the test itself."""

from __future__ import annotations

import asyncio
import shutil
import subprocess
from pathlib import Path

from noetl_pg.engine.daemon import Engine
from tests.support.catalog import register_playbook
from tests.support.fake_worker import answer_all

EXAMPLES = Path(__file__).resolve().parents[3] / "examples"

CHAIN = """
apiVersion: noetl.io/v2
kind: Playbook
metadata: {name: chain, path: tests/chain}
workload: {n: 1}
workflow:
  - step: start
    args: {v: "{{ workload.n }}"}
    tool: {kind: noop}
    next: end
  - step: end
    args: {v: "{{ start.v + 1 }}"}
    tool: {kind: noop}
"""


def run_engine(dsn: str) -> int:
    return asyncio.run(Engine(dsn).run_until_idle())


def drive(dsn: str, rounds: int = 50) -> None:
    """Alternate engine and fake worker until nothing is left to do."""
    for _ in range(rounds):
        applied = run_engine(dsn)
        answered = answer_all(dsn)
        if not applied and not answered:
            return
    raise AssertionError("work did not settle")


def test_bare_sql_insert_starts_a_workflow_that_completes(dsn, conn):
    register_playbook(conn, CHAIN)
    conn.execute(
        "INSERT INTO noetl.event (execution_id, event_type, payload)"
        " VALUES ('exec-123', 'workflow.start', '{\"path\": \"tests/chain\"}')"
    )
    drive(dsn)
    row = conn.execute(
        "SELECT status, result, step_results, active_steps FROM noetl.execution"
        " WHERE execution_id = 'exec-123'"
    ).fetchone()
    assert row["status"] == "completed"
    assert row["result"] == {"v": 2}
    assert row["step_results"] == {"start": {"v": 1}, "end": {"v": 2}}
    assert row["active_steps"] == []
    events = conn.execute(
        "SELECT event_type, node_name, processed_at IS NOT NULL AS done FROM noetl.event"
        " WHERE execution_id = 'exec-123' ORDER BY event_id"
    ).fetchall()
    assert [(e["event_type"], e["node_name"]) for e in events] == [
        ("workflow.start", None),
        ("step.enter", "start"),
        ("call.done", "start"),
        ("step.exit", "start"),
        ("step.enter", "end"),
        ("call.done", "end"),
        ("step.exit", "end"),
        ("workflow.complete", None),
    ]
    assert all(e["done"] for e in events)
    queue = conn.execute(
        "SELECT step, status FROM noetl.queue WHERE execution_id = 'exec-123' ORDER BY queue_id"
    ).fetchall()
    assert [(q["step"], q["status"]) for q in queue] == [("start", "done"), ("end", "done")]


def test_start_of_unknown_playbook_fails_the_execution_clearly(dsn, conn):
    conn.execute(
        "INSERT INTO noetl.event (execution_id, event_type, payload)"
        " VALUES ('exec-x', 'workflow.start', '{\"path\": \"no/such\"}')"
    )
    run_engine(dsn)
    row = conn.execute(
        "SELECT status, error FROM noetl.execution WHERE execution_id = 'exec-x'"
    ).fetchone()
    assert row["status"] == "failed"
    assert "'no/such'" in row["error"] and "not registered" in row["error"]


def test_event_for_unknown_execution_is_marked_processed_with_error(dsn, conn):
    conn.execute(
        "INSERT INTO noetl.event (execution_id, event_type, payload)"
        " VALUES ('ghost', 'workflow.cancel', '{}')"
    )
    run_engine(dsn)
    assert run_engine(dsn) == 0  # not retried forever
    row = conn.execute(
        "SELECT processed_at, error, status FROM noetl.event WHERE execution_id = 'ghost'"
    ).fetchone()
    assert row["processed_at"] is not None
    assert "no execution 'ghost'" in row["error"]
    assert row["status"] == "rejected"


def test_engine_only_event_inserted_by_sql_is_rejected_and_changes_nothing(dsn, conn):
    register_playbook(conn, CHAIN)
    conn.execute(
        "INSERT INTO noetl.event (execution_id, event_type, payload)"
        " VALUES ('e1', 'workflow.start', '{\"path\": \"tests/chain\"}')"
    )
    run_engine(dsn)
    conn.execute(
        "INSERT INTO noetl.event (execution_id, event_type, node_name, payload)"
        " VALUES ('e1', 'step.exit', 'start', '{}')"
    )
    run_engine(dsn)
    row = conn.execute(
        "SELECT error FROM noetl.event WHERE execution_id = 'e1' AND event_type = 'step.exit'"
    ).fetchone()
    assert "written by the engine only" in row["error"]
    state = conn.execute(
        "SELECT status, active_steps FROM noetl.execution WHERE execution_id = 'e1'"
    ).fetchone()
    assert (state["status"], state["active_steps"]) == ("running", ["start"])


def test_failed_when_reason_is_stored_on_the_event_row(dsn, conn):
    register_playbook(
        conn,
        CHAIN.replace(
            "    next: end\n",
            '    next: end\n    case:\n      - when: "{{ response.nope.deeper }}"\n'
            "        then: {fail: x}\n",
        ),
    )
    conn.execute(
        "INSERT INTO noetl.event (execution_id, event_type, payload)"
        " VALUES ('e2', 'workflow.start', '{\"path\": \"tests/chain\"}')"
    )
    drive(dsn)
    rows = conn.execute(
        "SELECT diagnostic FROM noetl.event WHERE execution_id = 'e2'"
        " AND event_type = 'call.done' AND node_name = 'start'"
    ).fetchall()
    assert "counted as false" in str(rows[0]["diagnostic"])
    status = conn.execute("SELECT status FROM noetl.execution WHERE execution_id = 'e2'")
    assert status.fetchone()["status"] == "completed"


def test_commands_generated_is_recorded_on_the_applied_event(dsn, conn):
    register_playbook(conn, CHAIN)
    conn.execute(
        "INSERT INTO noetl.event (execution_id, event_type, payload)"
        " VALUES ('e3', 'workflow.start', '{\"path\": \"tests/chain\"}')"
    )
    run_engine(dsn)
    row = conn.execute(
        "SELECT commands_generated FROM noetl.event WHERE execution_id = 'e3'"
        " AND event_type = 'workflow.start'"
    ).fetchone()
    assert row["commands_generated"] == 1


GUIDE_START = (
    "INSERT INTO noetl.event (execution_id, event_type, payload) VALUES ('exec-123',"
    " 'workflow.start', '{\"path\": \"examples/pagination\"}')"
)


def test_the_guides_bare_insert_from_psql_starts_the_pagination_example(dsn, conn):
    """Exactly the statement a user types into psql; no HTTP, no Python client."""
    register_playbook(conn, (EXAMPLES / "pagination.yaml").read_text())
    if shutil.which("psql"):
        subprocess.run(["psql", dsn, "-v", "ON_ERROR_STOP=1", "-c", GUIDE_START], check=True)
    else:  # no client binary on this machine: the same text through the driver
        conn.execute(GUIDE_START)
    run_engine(dsn)
    execution = conn.execute(
        "SELECT status, path, workload FROM noetl.execution WHERE execution_id = 'exec-123'"
    ).fetchone()
    assert (execution["status"], execution["path"]) == ("running", "examples/pagination")
    assert execution["workload"]["base_url"].startswith("http://")
    queue = conn.execute(
        "SELECT queue_id, execution_id, step, tool_kind, status, attempt, created_at"
        " FROM noetl.queue WHERE execution_id = 'exec-123' ORDER BY created_at"
    ).fetchall()
    assert [(q["step"], q["tool_kind"], q["status"], q["attempt"]) for q in queue] == [
        ("start", "noop", "pending", 1)
    ]


NUL_CTX = """
apiVersion: noetl.io/v2
kind: Playbook
metadata: {name: nul, path: tests/nul}
workflow:
  - step: start
    tool: {kind: noop}
    case:
      - when: "{{ event.name == 'step.enter' }}"
        then: {set: {ctx: {bad: "{{ '%c' % 0 }}"}}}
"""


def test_an_execution_whose_state_postgres_refuses_is_quarantined_alone(dsn, conn):
    """jsonb cannot hold a NUL character: the batch's write fails; the engine retries the
    executions one by one, fails only the guilty one with the reason, and moves on."""
    register_playbook(conn, CHAIN)
    register_playbook(conn, NUL_CTX)
    conn.execute(
        "INSERT INTO noetl.event (execution_id, event_type, payload) VALUES"
        " ('good', 'workflow.start', '{\"path\": \"tests/chain\"}'),"
        " ('bad', 'workflow.start', '{\"path\": \"tests/nul\"}')"
    )
    run_engine(dsn)
    assert run_engine(dsn) == 0  # nothing left to retry forever
    rows = {
        r["execution_id"]: r
        for r in conn.execute(
            "SELECT execution_id, status, error FROM noetl.execution"
            " WHERE execution_id IN ('good', 'bad')"
        ).fetchall()
    }
    assert rows["good"]["status"] == "running"
    assert rows["bad"]["status"] == "failed"
    assert "\\u0000 cannot be converted" in rows["bad"]["error"]
    event = conn.execute(
        "SELECT processed_at, error FROM noetl.event"
        " WHERE execution_id = 'bad' AND event_type = 'workflow.start'"
    ).fetchone()
    assert event["processed_at"] is not None
    assert "could not store" in event["error"]


def _start_chain(conn, execution_id: str) -> None:
    conn.execute(
        "INSERT INTO noetl.event (execution_id, event_type, payload)"
        " VALUES (%s, 'workflow.start', '{\"path\": \"tests/chain\"}')",
        [execution_id],
    )


def test_an_exception_inside_the_core_fails_the_execution_like_any_failure(dsn, conn):
    """State the core cannot make sense of (a command whose step run is gone) raises inside
    `apply_event`: the execution fails with workflow.failed, its other commands are
    cancelled, and other executions go on."""
    register_playbook(conn, CHAIN)
    _start_chain(conn, "broken")
    _start_chain(conn, "fine")
    run_engine(dsn)
    answer_all(dsn)  # both start commands report; the engine has not applied them yet
    conn.execute(
        "UPDATE noetl.execution SET state = jsonb_set(state, '{runs}', '{}')"
        " WHERE execution_id = 'broken'"
    )
    # A second command of 'broken', still pending, that the failure must cancel.
    conn.execute(
        "INSERT INTO noetl.queue (execution_id, step, tool_kind, run_key)"
        " VALUES ('broken', 'end', 'noop', 'end#9/0/1')"
    )
    run_engine(dsn)
    rows = {
        r["execution_id"]: r
        for r in conn.execute("SELECT execution_id, status, error FROM noetl.execution")
    }
    assert rows["fine"]["status"] == "running"
    assert rows["broken"]["status"] == "failed"
    assert "internal engine error applying call.done: KeyError" in rows["broken"]["error"]
    failed = conn.execute(
        "SELECT payload FROM noetl.event WHERE execution_id = 'broken'"
        " AND event_type = 'workflow.failed'"
    ).fetchone()
    assert failed["payload"]["error"] == rows["broken"]["error"]
    left = conn.execute(
        "SELECT status FROM noetl.queue WHERE execution_id = 'broken' AND step = 'end'"
    ).fetchone()
    assert left["status"] == "cancelled"


def test_call_done_finds_its_command_by_the_run_key_of_the_queue_row_it_names(dsn, conn):
    """The queue row a call.done names decides which call it reports, whatever run_key its
    payload claims; a call.done naming another execution's command reports nothing."""
    register_playbook(conn, CHAIN)
    _start_chain(conn, "mine")
    _start_chain(conn, "other")
    run_engine(dsn)
    queue_ids = {
        r["execution_id"]: r["queue_id"]
        for r in conn.execute("SELECT execution_id, queue_id FROM noetl.queue")
    }
    conn.execute(
        "INSERT INTO noetl.event (execution_id, event_type, node_name, payload, queue_id)"
        " VALUES ('mine', 'call.done', 'start', %s, %s),"
        "        ('mine', 'call.done', 'start', '{\"response\": {}}', %s)",
        ['{"response": {"v": 5}, "run_key": "end#7/0/1"}', queue_ids["mine"], queue_ids["other"]],
    )
    run_engine(dsn)
    mine = conn.execute(
        "SELECT step_results, active_steps FROM noetl.execution WHERE execution_id = 'mine'"
    ).fetchone()
    assert (mine["step_results"], mine["active_steps"]) == ({"start": {"v": 5}}, ["end"])
    notes = conn.execute(
        "SELECT diagnostic FROM noetl.event WHERE execution_id = 'mine'"
        " AND event_type = 'call.done' ORDER BY event_id"
    ).fetchall()
    assert notes[0]["diagnostic"] is None
    assert "no outstanding command" in str(notes[1]["diagnostic"])
