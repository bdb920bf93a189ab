"""The gateway's pure parts: names, bodies, cursors, the API description, ExecutionView."""

from __future__ import annotations

import re
from datetime import UTC, datetime

import pytest
from pydantic import ValidationError

from noetl_pg.gateway.app import ROUTES
from noetl_pg.gateway.errors import ApiError
from noetl_pg.gateway.events import check_event_name, plan_insert
from noetl_pg.gateway.executions import decode_cursor, encode_cursor
from noetl_pg.gateway.models import CallDonePayload, EventIn
from noetl_pg.gateway.openapi import openapi_document
from noetl_pg.gateway.requests import parse_json_object
from noetl_pg.state import ExecutionView
from noetl_pg.store.control import new_execution_id


def test_generated_execution_ids_look_like_the_table_default():
    assert re.fullmatch(r"exec-[0-9a-f]{32}", new_execution_id())
    assert new_execution_id() != new_execution_id()


@pytest.mark.parametrize("name", ["workflow.start", "workflow.cancel", "call.done", None, 3])
def test_client_names_and_non_strings_pass_the_name_check(name):
    check_event_name(name)  # non-strings are the model's to report


@pytest.mark.parametrize("name", ["step.enter", "loop.done", "workflow.failed", "hello"])
def test_other_names_are_refused_with_the_allowed_list(name):
    with pytest.raises(ApiError) as caught:
        check_event_name(name)
    assert caught.value.status == 422
    assert caught.value.details["allowed"] == ["workflow.start", "workflow.cancel", "call.done"]


def test_engine_names_are_explained_as_the_engines():
    with pytest.raises(ApiError, match="written by the engine only"):
        check_event_name("step.exit")


@pytest.mark.parametrize(
    ("body", "fragment"),
    [
        ({"name": "workflow.start"}, "needs the playbook path"),
        ({"name": "workflow.start", "path": "p", "queue_id": 1}, "does not take queue_id"),
        ({"name": "workflow.cancel"}, "needs the execution_id"),
        ({"name": "workflow.cancel", "execution_id": "e", "path": "p"}, "does not take path"),
        ({"name": "call.done", "queue_id": 1}, "missing worker_id, attempt"),
        ({"name": "call.done", "path": "p"}, "does not take path"),
    ],
)
def test_plans_refuse_fields_that_do_not_fit_the_event(body, fragment):
    with pytest.raises(ApiError, match=fragment) as caught:
        plan_insert(EventIn.model_validate(body))
    assert caught.value.status == 422


def test_call_done_payload_is_a_response_or_an_error():
    assert CallDonePayload.model_validate({"response": None}).response is None
    error = CallDonePayload.model_validate({"error": {"kind": "http", "message": "x", "status": 1}})
    assert error.error is not None and error.error.kind == "http"
    for bad in ({}, {"response": 1, "error": {"kind": "a", "message": "b"}}, {"error": {}}):
        with pytest.raises(ValidationError):
            CallDonePayload.model_validate(bad)


def test_cursor_round_trip_and_forgery():
    row = {"created_at": datetime(2024, 5, 1, 12, 0, tzinfo=UTC), "execution_id": "exec-1"}
    assert decode_cursor(encode_cursor(row)) == (row["created_at"], "exec-1")
    assert decode_cursor(None) is None
    with pytest.raises(ApiError):
        decode_cursor("not-a-cursor")


def test_malformed_json_names_line_and_column():
    with pytest.raises(ApiError) as caught:
        parse_json_object(b'{\n  "name": }')
    assert caught.value.status == 400
    assert caught.value.details == {"line": 2, "column": 11}


def test_the_description_covers_every_route():
    paths = openapi_document()["paths"]
    for route in ROUTES:
        documented = route.path.replace("{path:path}", "{path}")
        assert documented in paths, route.path
        for method in getattr(route, "methods", None) or ("GET",):  # a Mount: its pages
            if method != "HEAD":
                assert method.lower() in paths[documented], (method, route.path)


def test_execution_state_names_of_the_v2_guide():
    state = ExecutionView("exec-1", "p", "running", ["b", "c"], {"a": 1}, {"k": 2})
    assert state.workflow_status == "running"
    assert state.current_step == "b"
    assert ExecutionView("exec-2", None, "pending").current_step is None
    assert set(state.to_dict()) == {
        "execution_id",
        "path",
        "status",
        "current_steps",
        "step_results",
        "context",
        "result",
        "error",
    }
