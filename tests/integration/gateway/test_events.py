"""`POST /api/v2/events` and the cancel endpoint: what is written, what is refused."""

from __future__ import annotations

import json
import re
import threading

import psycopg
import pytest

from tests.integration.gateway.support import (
    HELLO,
    assert_error,
    count,
    fake_engine,
    register,
)

EVENTS = "/api/v2/events"


def start(api, **body):
    return api.post(EVENTS, params={"wait": 0}, json={"name": "workflow.start", **body})


def only_event(conn) -> dict:
    rows = conn.execute("SELECT * FROM noetl.event").fetchall()
    assert len(rows) == 1, rows
    return rows[0]


# --- workflow.start ---------------------------------------------------------------------


def test_start_inserts_an_unprocessed_event_with_a_generated_id(api, conn):
    register(api)
    response = start(api, payload={"path": "examples/hello", "workload": {"n": 1}})
    assert response.status_code == 202
    body = response.json()
    assert body["status"] == "accepted"
    assert re.fullmatch(r"exec-[0-9a-f]{32}", body["execution_id"])
    row = only_event(conn)
    assert row["event_id"] == body["event_id"]
    assert row["execution_id"] == body["execution_id"]
    assert row["event_type"] == "workflow.start"
    assert row["node_name"] is None
    assert row["status"] is None
    assert row["processed_at"] is None
    assert row["payload"] == {"path": "examples/hello", "workload": {"n": 1}}


def test_start_folds_top_level_path_version_and_workload_into_the_payload(api, conn):
    register(api)
    response = start(
        api, execution_id="exec-123", path="examples/hello", version=1, workload={"a": 2}
    )
    assert response.status_code == 202, response.text
    assert response.json()["execution_id"] == "exec-123"
    assert only_event(conn)["payload"] == {
        "path": "examples/hello",
        "version": 1,
        "workload": {"a": 2},
    }


def test_start_wakes_the_engines_with_a_notification(api, dsn):
    register(api)
    with psycopg.connect(dsn, autocommit=True) as listener:
        listener.execute("LISTEN noetl_event")
        assert start(api, path="examples/hello").status_code == 202
        notices = list(listener.notifies(timeout=30, stop_after=1))
    assert [n.channel for n in notices] == ["noetl_event"]


def test_start_answers_processed_once_an_engine_applied_it(api, dsn):
    register(api)
    with fake_engine(dsn, commands=1) as applied:
        response = api.post(
            EVENTS,
            params={"wait": 60},
            json={"name": "workflow.start", "payload": {"path": "examples/hello"}},
        )
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["status"] == "processed"
    assert body["commands_generated"] == 1
    assert "error" not in body
    assert applied == [body["event_id"]]


def test_processed_answer_carries_the_engines_refusal(api, dsn):
    register(api)
    with fake_engine(dsn, commands=0, error="no playbook"):
        response = api.post(
            EVENTS, params={"wait": 60}, json={"name": "workflow.start", "path": "examples/hello"}
        )
    assert response.status_code == 200
    assert response.json()["error"] == "no playbook"
    assert response.json()["commands_generated"] == 0


def test_start_without_path_is_422_and_writes_nothing(api, conn):
    register(api)
    for body in ({}, {"payload": {}}, {"payload": {"workload": {}}}, {"path": ""}):
        response = start(api, **body)
        error = assert_error(response, 422, "invalid_body")
        assert "path" in error["message"]
    assert count(conn, "event") == 0


def test_start_of_an_unknown_playbook_or_version_is_404(api, conn):
    register(api)
    assert_error(start(api, path="examples/none"), 404, "playbook_not_found")
    assert_error(start(api, path="examples/hello", version=7), 404, "playbook_not_found")
    assert count(conn, "event") == 0


def test_start_of_an_execution_id_twice_is_409(api, conn):
    register(api)
    assert start(api, execution_id="exec-1", path="examples/hello").status_code == 202
    error = assert_error(start(api, execution_id="exec-1", path="examples/hello"), 409)
    assert error["code"] == "execution_exists"
    assert count(conn, "event") == 1


def test_start_with_conflicting_top_level_and_payload_values_is_422(api, conn):
    register(api)
    response = start(api, path="examples/hello", payload={"path": "examples/other"})
    assert_error(response, 422, "invalid_body")
    assert count(conn, "event") == 0


# --- refused input ----------------------------------------------------------------------


@pytest.mark.parametrize("name", ["step.enter", "workflow.complete", "call.error", "bogus"])
def test_names_clients_may_not_send_are_422_listing_the_allowed_ones(api, conn, name):
    response = api.post(EVENTS, json={"name": name, "execution_id": "exec-1", "payload": {}})
    error = assert_error(response, 422, "unknown_event")
    assert error["details"]["allowed"] == [
        "workflow.start",
        "workflow.cancel",
        "call.done",
        "signal",
    ]
    assert name in error["message"]
    assert count(conn, "event") == 0


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"name": 7}, "name"),
        ({}, "name"),
        ({"name": "workflow.start", "payload": ["path"]}, "payload"),
        ({"name": "workflow.start", "path": "examples/hello", "version": "one"}, "version"),
        ({"name": "workflow.start", "path": "examples/hello", "workload": 3}, "workload"),
        ({"name": "workflow.start", "path": "examples/hello", "colour": "red"}, "colour"),
        ({"name": "workflow.start", "execution_id": 5, "path": "examples/hello"}, "execution_id"),
    ],
)
def test_wrong_types_and_unknown_fields_are_422_naming_the_field(api, conn, body, field):
    register(api)
    error = assert_error(api.post(EVENTS, json=body), 422, "invalid_body")
    assert field in [p["field"] for p in error["details"]["problems"]], error
    assert count(conn, "event") == 0


def test_malformed_json_is_400(api, conn):
    response = api.post(
        EVENTS, content=b'{"name": "workflow.start",', headers={"Content-Type": "application/json"}
    )
    error = assert_error(response, 400, "malformed_json")
    assert "line 1" in error["message"]
    assert_error(
        api.post(EVENTS, content=b"\xff\xfe", headers={"Content-Type": "application/json"}), 400
    )
    assert_error(api.post(EVENTS, content=b"", headers={"Content-Type": "application/json"}), 400)
    assert count(conn, "event") == 0


def test_a_form_body_is_415(api, conn):
    response = api.post(EVENTS, data={"name": "workflow.start"})
    error = assert_error(response, 415, "unsupported_media_type")
    assert "application/json" in error["message"]
    assert count(conn, "event") == 0


def test_json_that_is_not_an_object_is_422(api, conn):
    for value in ([], "workflow.start", 3, None):
        assert_error(
            api.post(
                EVENTS,
                content=json.dumps(value).encode(),
                headers={"Content-Type": "application/json"},
            ),
            422,
        )
    assert count(conn, "event") == 0


def test_oversized_bodies_are_413_declared_or_streamed(start_gateway, conn):
    api = start_gateway(max_body_bytes=1000)
    big = {"name": "workflow.start", "path": "examples/hello", "workload": {"x": "y" * 2000}}
    error = assert_error(api.post(EVENTS, json=big), 413, "body_too_large")
    assert error["details"]["max_body_bytes"] == 1000

    def chunks():  # no Content-Length: the limit holds while streaming
        yield json.dumps(big).encode()

    assert_error(
        api.post(EVENTS, content=chunks(), headers={"Content-Type": "application/json"}), 413
    )
    assert count(conn, "event") == 0


@pytest.mark.parametrize("wait", ["-1", "61", "soon", "nan"])
def test_a_bad_wait_is_422(api, conn, wait):
    register(api)
    response = api.post(
        EVENTS, params={"wait": wait}, json={"name": "workflow.start", "path": "examples/hello"}
    )
    assert_error(response, 422, "invalid_query")
    assert count(conn, "event") == 0


# --- workflow.cancel --------------------------------------------------------------------


def test_cancel_needs_an_existing_unfinished_execution(api, conn):
    register(api)
    cancel = {"name": "workflow.cancel", "execution_id": "exec-9", "payload": {"reason": "x"}}
    assert_error(api.post(EVENTS, json=cancel), 404, "execution_not_found")
    assert_error(
        api.post(EVENTS, json={"name": "workflow.cancel", "payload": {}}), 422, "invalid_body"
    )
    assert start(api, execution_id="exec-9", path="examples/hello").status_code == 202
    response = api.post(EVENTS, params={"wait": 0}, json=cancel)
    assert response.status_code == 202, response.text
    row = conn.execute("SELECT * FROM noetl.event WHERE event_type = 'workflow.cancel'").fetchone()
    assert row["execution_id"] == "exec-9"
    assert row["payload"] == {"reason": "x"}


def test_cancel_endpoint(api, conn):
    register(api)
    url = "/api/v2/executions/exec-5/cancel"
    assert_error(api.post(url), 404, "execution_not_found")
    start(api, execution_id="exec-5", path="examples/hello")
    assert api.post(url, params={"wait": 0}).status_code == 202
    response = api.post(url, params={"wait": 0}, json={"reason": "enough"})
    assert response.status_code == 202
    assert response.json()["execution_id"] == "exec-5"
    payloads = conn.execute(
        "SELECT payload FROM noetl.event WHERE event_type = 'workflow.cancel' ORDER BY event_id"
    ).fetchall()
    assert [r["payload"] for r in payloads] == [{}, {"reason": "enough"}]
    assert_error(api.post(url, json={"reason": 5}), 422, "invalid_body")
    assert_error(api.post(url, json={"why": "x"}), 422, "invalid_body")


def test_cancel_of_a_finished_execution_is_409(api, conn):
    conn.execute(
        "INSERT INTO noetl.execution (execution_id, path, status) "
        "VALUES ('exec-done', 'examples/hello', 'completed')"
    )
    error = assert_error(api.post("/api/v2/executions/exec-done/cancel"), 409)
    assert error["details"]["status"] == "completed"
    assert count(conn, "event") == 0


# --- call.done from an external worker --------------------------------------------------


def leased_command(conn, *, worker="w1", attempt=1) -> int:
    conn.execute(
        "INSERT INTO noetl.execution (execution_id, path, status) "
        "VALUES ('exec-w', 'examples/hello', 'running') ON CONFLICT DO NOTHING"
    )
    row = conn.execute(
        "INSERT INTO noetl.queue (execution_id, step, tool_kind, status, assigned_worker_id,"
        " attempt, run_key, lease_expires_at) VALUES ('exec-w', 'start', 'http', 'leased',"
        " %s, %s, 'start#1', now() + interval '1 hour') RETURNING queue_id",
        [worker, attempt],
    ).fetchone()
    return row["queue_id"]


def call_done(api, queue_id, payload, **extra):
    body = {
        "name": "call.done",
        "queue_id": queue_id,
        "worker_id": "w1",
        "attempt": 1,
        "payload": payload,
        **extra,
    }
    return api.post(EVENTS, params={"wait": 0}, json=body)


def test_call_done_is_reported_through_the_fenced_query(api, conn):
    queue_id = leased_command(conn)
    response = call_done(api, queue_id, {"response": {"status": 200, "data": [1]}})
    assert response.status_code == 202, response.text
    assert response.json()["execution_id"] == "exec-w"
    row = only_event(conn)
    assert row["event_type"] == "call.done"
    assert row["node_name"] == "start"
    assert row["queue_id"] == queue_id
    assert row["payload"]["response"] == {"status": 200, "data": [1]}
    assert row["payload"]["worker_id"] == "w1"
    command = conn.execute("SELECT * FROM noetl.queue").fetchone()
    assert command["status"] == "done"
    assert command["lease_expires_at"] is None


def test_call_done_with_an_error_fails_the_command(api, conn):
    queue_id = leased_command(conn)
    error = {"kind": "http", "message": "503 from upstream", "status": 503}
    assert call_done(api, queue_id, {"error": error}).status_code == 202
    assert only_event(conn)["payload"]["error"] == error
    command = conn.execute("SELECT status, last_error FROM noetl.queue").fetchone()
    assert command == {"status": "failed", "last_error": "503 from upstream"}


def test_call_done_without_the_lease_is_409_and_writes_nothing(api, conn):
    queue_id = leased_command(conn, worker="w2")
    error = assert_error(call_done(api, queue_id, {"response": 1}), 409, "lease_not_held")
    assert error["details"]["assigned_worker_id"] == "w2"
    assert_error(call_done(api, 999_999, {"response": 1}), 409, "lease_not_held")
    assert count(conn, "event") == 0
    assert conn.execute("SELECT status FROM noetl.queue").fetchone()["status"] == "leased"


def test_a_second_report_of_the_same_command_is_409(api, conn):
    queue_id = leased_command(conn)
    assert call_done(api, queue_id, {"response": 1}).status_code == 202
    assert_error(call_done(api, queue_id, {"response": 2}), 409, "lease_not_held")
    assert count(conn, "event") == 1


def test_call_done_for_another_execution_is_refused_and_rolled_back(api, conn):
    queue_id = leased_command(conn)
    response = call_done(api, queue_id, {"response": 1}, execution_id="exec-other")
    assert_error(response, 422, "invalid_body")
    assert count(conn, "event") == 0
    assert conn.execute("SELECT status FROM noetl.queue").fetchone()["status"] == "leased"


@pytest.mark.parametrize(
    "payload",
    [
        {},
        {"response": 1, "error": {"kind": "x", "message": "y"}},
        {"error": "boom"},
        {"error": {"message": "no kind"}},
        {"response": 1, "extra": 2},
    ],
)
def test_call_done_payload_needs_a_response_or_a_well_formed_error(api, conn, payload):
    queue_id = leased_command(conn)
    assert_error(call_done(api, queue_id, payload), 422, "invalid_body")
    assert count(conn, "event") == 0


def test_call_done_must_name_the_command_it_holds(api, conn):
    response = api.post(
        EVENTS, json={"name": "call.done", "execution_id": "exec-w", "payload": {"response": 1}}
    )
    error = assert_error(response, 422, "invalid_body")
    fields = {p["field"] for p in error["details"]["problems"]}
    assert fields == {"queue_id", "worker_id", "attempt"}
    assert count(conn, "event") == 0


# --- Idempotency-Key --------------------------------------------------------------------


def test_the_same_key_twice_writes_one_event_and_answers_the_same(api, conn):
    register(api)
    headers = {"Idempotency-Key": "start-once"}
    body = {"name": "workflow.start", "path": "examples/hello"}
    first = api.post(EVENTS, params={"wait": 0}, json=body, headers=headers)
    second = api.post(EVENTS, params={"wait": 0}, json=body, headers=headers)
    assert first.status_code == second.status_code == 202
    assert first.json() == second.json()
    assert second.headers["idempotent-replayed"] == "true"
    assert count(conn, "event") == 1
    stored = conn.execute("SELECT * FROM noetl.idempotency").fetchone()
    assert stored["key"] == "start-once"
    assert stored["response"] == first.json()
    assert stored["status_code"] == 202


def test_a_key_reused_for_a_different_request_is_refused_and_writes_nothing(api, conn):
    register(api)
    headers = {"Idempotency-Key": "one-request"}
    first = {"name": "workflow.start", "path": "examples/hello", "workload": {"n": 1}}
    assert api.post(EVENTS, params={"wait": 0}, json=first, headers=headers).status_code == 202
    other = {"name": "workflow.start", "path": "examples/hello", "workload": {"n": 2}}
    answer = api.post(EVENTS, params={"wait": 0}, json=other, headers=headers)
    assert_error(answer, 409, "idempotency_key_reused")
    assert count(conn, "event") == 1
    # The same request with its keys in another order is the same request.
    reordered = {"workload": {"n": 1}, "path": "examples/hello", "name": "workflow.start"}
    again = api.post(EVENTS, params={"wait": 0}, json=reordered, headers=headers)
    assert again.status_code == 202
    assert again.headers["idempotent-replayed"] == "true"


def test_a_replay_after_processing_answers_processed(api, dsn, conn):
    register(api)
    headers = {"Idempotency-Key": "k"}
    body = {"name": "workflow.start", "path": "examples/hello"}
    with fake_engine(dsn, commands=2):
        first = api.post(EVENTS, params={"wait": 60}, json=body, headers=headers)
        second = api.post(EVENTS, params={"wait": 60}, json=body, headers=headers)
    assert first.status_code == second.status_code == 200
    assert first.json() == second.json()
    assert first.json()["commands_generated"] == 2
    assert count(conn, "event") == 1
    assert (
        conn.execute("SELECT status_code FROM noetl.idempotency").fetchone()["status_code"] == 200
    )


def test_concurrent_duplicates_write_one_event(api, conn):
    register(api)
    headers = {"Idempotency-Key": "race"}
    body = {"name": "workflow.start", "path": "examples/hello"}
    answers: list = []

    def post() -> None:
        answers.append(api.post(EVENTS, params={"wait": 0}, json=body, headers=headers))

    threads = [threading.Thread(target=post) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert {a.status_code for a in answers} == {202}
    assert len({json.dumps(a.json(), sort_keys=True) for a in answers}) == 1
    assert count(conn, "event") == 1
    assert count(conn, "idempotency") == 1


def test_a_refused_request_does_not_use_up_its_key(api, conn):
    headers = {"Idempotency-Key": "retry-me"}
    body = {"name": "workflow.start", "path": "examples/hello"}
    assert_error(api.post(EVENTS, json=body, headers=headers), 404, "playbook_not_found")
    assert count(conn, "idempotency") == 0
    register(api)
    assert api.post(EVENTS, params={"wait": 0}, json=body, headers=headers).status_code == 202
    assert count(conn, "event") == 1


def test_a_retried_call_done_gets_its_first_answer_not_409(api, conn):
    queue_id = leased_command(conn)
    headers = {"Idempotency-Key": f"report-{queue_id}"}
    body = {
        "name": "call.done",
        "queue_id": queue_id,
        "worker_id": "w1",
        "attempt": 1,
        "payload": {"response": 1},
    }
    first = api.post(EVENTS, params={"wait": 0}, json=body, headers=headers)
    second = api.post(EVENTS, params={"wait": 0}, json=body, headers=headers)
    assert first.status_code == second.status_code == 202
    assert first.json() == second.json()
    assert count(conn, "event") == 1


def test_an_empty_or_huge_key_is_400(api, conn):
    register(api)
    body = {"name": "workflow.start", "path": "examples/hello"}
    for key in ("", "k" * 256):
        assert_error(api.post(EVENTS, json=body, headers={"Idempotency-Key": key}), 400)
    assert count(conn, "event") == 0


# --- input PostgreSQL cannot store ------------------------------------------------------


START = b'{"name": "workflow.start", "path": "examples/hello", "workload": {"a": %s}}'


@pytest.mark.parametrize(
    ("value", "status"),
    [
        (b'"\\u0000"', 422),
        (b'"\\ud800"', 422),
        (b"NaN", 400),
        (b"[" * 5000 + b"]" * 5000, 400),
    ],
    ids=["nul", "surrogate", "nan", "deep"],
)
def test_values_postgres_cannot_store_are_4xx(api, conn, value, status):
    register(api)
    raw = START % value
    response = api.post(
        EVENTS, params={"wait": 0}, content=raw, headers={"Content-Type": "application/json"}
    )
    assert_error(response, status)
    assert count(conn, "event") == 0


def test_nul_in_a_path_or_an_oversized_key_is_422_not_500(api, conn):
    for method, url in [
        ("GET", "/api/v2/playbooks/a%00b"),
        ("GET", "/api/v2/executions/a%00b"),
        ("GET", "/api/v2/executions/a%00b/events"),
        ("POST", "/api/v2/executions/a%00b/cancel"),
        ("GET", "/api/v2/executions?path=a%00b"),
    ]:
        assert_error(api.request(method, url), 422, "invalid_value")
    huge_path = HELLO.replace(
        "path: examples/hello", "path: " + "".join(f"{i:x}" for i in range(3000))
    )
    response = api.post("/api/v2/engine/register-playbook", json={"playbook_yaml": huge_path})
    assert_error(response, 422, "invalid_value")
    assert count(conn, "event") == 0
    assert count(conn, "playbook") == 0
