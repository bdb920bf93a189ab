"""Reading executions: one state (HTTP and get_state), the list, the event log."""

from __future__ import annotations

import pytest

import noetl_pg
from noetl_pg import get_state
from tests.integration.gateway.support import assert_error, register

STATE_KEYS = {
    "execution_id",
    "path",
    "status",
    "current_steps",
    "step_results",
    "context",
    "result",
    "error",
    "warnings",
}


def add_execution(conn, execution_id, *, status="running", path="examples/hello", **columns):
    """An execution row as an engine writes it."""
    values = {
        "execution_id": execution_id,
        "path": path,
        "status": status,
        "active_steps": [],
        "step_results": "{}",
        "context": "{}",
        **columns,
    }
    names = ", ".join(values)
    placeholders = ", ".join(f"%({n})s" for n in values)
    conn.execute(f"INSERT INTO noetl.execution ({names}) VALUES ({placeholders})", values)


def test_state_has_exactly_the_documented_keys(api, conn):
    add_execution(
        conn,
        "exec-1",
        active_steps=["fetch", "score"],
        step_results='{"start": {"ok": true}}',
        context='{"pages": [1, 2]}',
    )
    response = api.get("/api/v2/executions/exec-1")
    assert response.status_code == 200
    assert response.json() == {
        "execution_id": "exec-1",
        "path": "examples/hello",
        "status": "running",
        "current_steps": ["fetch", "score"],
        "step_results": {"start": {"ok": True}},
        "context": {"pages": [1, 2]},
        "result": None,
        "error": None,
        "warnings": [],
    }


def test_get_state_reads_the_same_as_http(api, conn, dsn):
    add_execution(
        conn,
        "exec-2",
        status="completed",
        step_results='{"end": 3}',
        result="[1, 2, 3]",
    )
    state = get_state("exec-2", dsn=dsn)
    assert state is not None
    assert state.to_dict() == api.get("/api/v2/executions/exec-2").json()
    assert state.workflow_status == "completed"
    assert state.current_step is None
    assert state.result == [1, 2, 3]
    assert noetl_pg.get_state is get_state


def test_get_state_uses_noetl_dsn_and_knows_current_step(conn, dsn, monkeypatch):
    add_execution(conn, "exec-3", active_steps=["fetch", "score"])
    monkeypatch.setenv("NOETL_DSN", dsn)
    state = get_state("exec-3")
    assert state is not None
    assert state.current_step == "fetch"
    assert state.current_steps == ["fetch", "score"]
    assert get_state("exec-none") is None
    with pytest.raises(AttributeError):
        state.status = "failed"  # frozen


def test_a_start_not_yet_applied_reads_as_pending(api, dsn):
    register(api)
    started = api.post(
        "/api/v2/events",
        params={"wait": 0},
        json={"name": "workflow.start", "path": "examples/hello"},
    ).json()
    response = api.get(f"/api/v2/executions/{started['execution_id']}")
    assert response.status_code == 200
    body = response.json()
    assert set(body) == STATE_KEYS
    assert body["status"] == "pending"
    assert body["path"] == "examples/hello"
    assert get_state(started["execution_id"], dsn=dsn).status == "pending"


def test_a_start_the_engine_refused_reads_as_failed_with_its_reason(api, conn):
    conn.execute(
        "INSERT INTO noetl.event (execution_id, event_type, payload, processed_at, error)"
        " VALUES ('exec-r', 'workflow.start', '{\"path\": \"nope\"}', now(),"
        " 'no playbook registered at path nope')"
    )
    body = api.get("/api/v2/executions/exec-r").json()
    assert body["status"] == "failed"
    assert body["error"] == "no playbook registered at path nope"
    (warning,) = body["warnings"]
    assert {**warning, "event_id": None} == {
        "event_id": None,
        "event": "workflow.start",
        "step": None,
        "kind": "refused",
        "message": "no playbook registered at path nope",
    }


def test_recorded_diagnostics_are_warnings_of_the_execution(api, conn):
    add_execution(conn, "exec-w", status="completed")
    conn.execute(
        "INSERT INTO noetl.event (execution_id, event_type, node_name, payload, processed_at,"
        " diagnostic) VALUES ('exec-w', 'call.done', 'fetch', '{}', now(), %s)",
        [
            '[{"step": "fetch", "case": 1, "event": "call.done", "reason": "when x raised"},'
            ' {"note": "no outstanding command"}]'
        ],
    )
    warnings = api.get("/api/v2/executions/exec-w").json()["warnings"]
    assert [(w["kind"], w["step"], w["message"]) for w in warnings] == [
        ("when", "fetch", "step 'fetch', case 1 on call.done: when x raised"),
        ("note", "fetch", "no outstanding command"),
    ]


def test_unknown_execution_is_404(api):
    error = assert_error(api.get("/api/v2/executions/exec-none"), 404, "execution_not_found")
    assert error["details"] == {"execution_id": "exec-none"}
    assert_error(api.get("/api/v2/executions/exec-none/events"), 404, "execution_not_found")


def test_list_filters_by_status_and_path(api, conn):
    add_execution(conn, "exec-a", status="running")
    add_execution(conn, "exec-b", status="completed")
    add_execution(conn, "exec-c", status="completed", path="examples/other")
    listed = api.get("/api/v2/executions").json()
    assert {e["execution_id"] for e in listed["executions"]} == {"exec-a", "exec-b", "exec-c"}
    assert listed["next_cursor"] is None
    completed = api.get("/api/v2/executions", params={"status": "completed"}).json()
    assert {e["execution_id"] for e in completed["executions"]} == {"exec-b", "exec-c"}
    both = api.get(
        "/api/v2/executions", params={"status": "completed", "path": "examples/hello"}
    ).json()
    assert [e["execution_id"] for e in both["executions"]] == ["exec-b"]
    summary = both["executions"][0]
    assert summary["status"] == "completed"
    assert isinstance(summary["created_at"], str)


def test_list_pages_with_a_cursor_newest_first(api, conn):
    for index in range(5):
        add_execution(
            conn, f"exec-{index}", created_at=f"2024-01-01T00:00:0{index}Z"
        )  # distinct, known order
    add_execution(conn, "exec-tie", created_at="2024-01-01T00:00:02Z")  # same instant
    seen: list[str] = []
    cursor = None
    while True:
        params = {"limit": 2, **({"cursor": cursor} if cursor else {})}
        page = api.get("/api/v2/executions", params=params).json()
        seen.extend(e["execution_id"] for e in page["executions"])
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == ["exec-4", "exec-3", "exec-tie", "exec-2", "exec-1", "exec-0"]


@pytest.mark.parametrize(
    "params",
    [{"status": "sleeping"}, {"limit": 0}, {"limit": 501}, {"limit": "x"}, {"cursor": "!!"}],
)
def test_list_refuses_bad_parameters(api, params):
    assert_error(api.get("/api/v2/executions", params=params), 422, "invalid_query")


def test_events_of_an_execution_in_order_with_paging(api, conn):
    register(api)
    api.post(
        "/api/v2/events",
        params={"wait": 0},
        json={"name": "workflow.start", "execution_id": "exec-e", "path": "examples/hello"},
    )
    conn.execute(
        "INSERT INTO noetl.event (execution_id, event_type, node_name, status, payload,"
        " processed_at, commands_generated) VALUES"
        " ('exec-e', 'step.enter', 'start', NULL, '{}', now(), 1),"
        " ('exec-e', 'step.exit', 'start', 'completed', '{\"result\": 1}', now(), 0)"
    )
    body = api.get("/api/v2/executions/exec-e/events").json()
    assert body["execution_id"] == "exec-e"
    assert [(e["name"], e["step"]) for e in body["events"]] == [
        ("workflow.start", None),
        ("step.enter", "start"),
        ("step.exit", "start"),
    ]
    assert body["next_after"] is None
    first = body["events"][0]
    assert first["payload"] == {"path": "examples/hello"}
    assert first["processed_at"] is None
    assert body["events"][2]["status"] == "completed"
    page = api.get("/api/v2/executions/exec-e/events", params={"limit": 2}).json()
    assert len(page["events"]) == 2
    rest = api.get("/api/v2/executions/exec-e/events", params={"after": page["next_after"]}).json()
    assert [e["name"] for e in rest["events"]] == ["step.exit"]
    assert_error(api.get("/api/v2/executions/exec-e/events?limit=0"), 422, "invalid_query")


def test_commands_of_an_execution_and_the_queue_depth(api, conn):
    add_execution(conn, "exec-q")
    conn.execute(
        "INSERT INTO noetl.queue (execution_id, step, tool_kind, status, run_key)"
        " VALUES ('exec-q', 'start', 'noop', 'done', 'start#1/0/1'),"
        " ('exec-q', 'end', 'http', 'pending', 'end#2/0/1'),"
        " ('other', 'start', 'noop', 'leased', 'start#1/0/1')"
    )
    answer = api.get("/api/v2/executions/exec-q/commands")
    assert answer.status_code == 200
    commands = answer.json()["commands"]
    assert [(c["step"], c["tool_kind"], c["status"], c["attempt"]) for c in commands] == [
        ("start", "noop", "done", 1),
        ("end", "http", "pending", 1),
    ]
    depth = api.get("/api/v2/queue").json()
    assert depth["commands"] == {"done": 1, "leased": 1, "pending": 1}
    assert depth["oldest_seconds"]["pending"] >= 0
    assert_error(api.get("/api/v2/executions/nope/commands"), 404, "execution_not_found")
