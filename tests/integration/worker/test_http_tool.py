"""The http tool against a real local HTTP server."""

from __future__ import annotations

import json
import socket

from tests.integration.worker.conftest import run_commands, run_one


def test_get_json_gives_status_headers_and_parsed_data(dsn, http_server):
    event = run_one(dsn, "http", {"endpoint": f"{http_server}/json"})
    assert event["status"] == "ok"
    response = event["payload"]["response"]
    assert response["status"] == 200
    assert response["headers"]["content-type"] == "application/json"
    assert response["data"] == {"hello": "world", "n": 1}
    assert isinstance(event["payload"]["duration_ms"], int)
    assert event["payload"]["run_key"] == "step1#1"
    assert event["payload"]["attempt"] == 1


def test_text_body_is_text(dsn, http_server):
    event = run_one(dsn, "http", {"url": f"{http_server}/text"})
    assert event["payload"]["response"]["data"] == "plain text"


def test_post_sends_params_headers_and_json_body(dsn, http_server):
    config = {
        "method": "post",
        "endpoint": f"{http_server}/echo",
        "params": {"page": 2, "q": "a b"},
        "headers": {"X-Trace": "abc"},
        "json": {"items": [1, 2], "name": "x"},
    }
    echo = run_one(dsn, "http", config)["payload"]["response"]["data"]
    assert echo["method"] == "POST"
    assert echo["query"] == {"page": "2", "q": "a b"}
    assert echo["headers"]["x-trace"] == "abc"
    assert echo["headers"]["content-type"] == "application/json"
    assert json.loads(echo["body"]) == {"items": [1, 2], "name": "x"}


def test_data_dict_is_json_string_is_text_and_form_when_asked(dsn, http_server):
    url = f"{http_server}/echo"
    events = run_commands(
        dsn,
        ("http", {"method": "PUT", "endpoint": url, "data": {"a": 1}}),
        ("http", {"method": "PUT", "endpoint": url, "data": "raw text"}),
        (
            "http",
            {
                "method": "POST",
                "endpoint": url,
                "headers": {"Content-Type": "application/x-www-form-urlencoded"},
                "data": {"a": 1, "b": "two"},
            },
        ),
    )
    bodies = [e["payload"]["response"]["data"]["body"] for e in events]
    assert [json.loads(bodies[0]), *bodies[1:]] == [{"a": 1}, "raw text", "a=1&b=two"]


def test_bearer_and_basic_auth(dsn, http_server):
    url = f"{http_server}/echo"
    bearer, basic = run_commands(
        dsn,
        ("http", {"endpoint": url, "auth": {"type": "bearer", "token": "tok"}}),
        ("http", {"endpoint": url, "auth": {"type": "basic", "username": "u", "password": "p"}}),
    )
    assert bearer["payload"]["response"]["data"]["headers"]["authorization"] == "Bearer tok"
    assert basic["payload"]["response"]["data"]["headers"]["authorization"] == "Basic dTpw"


def test_non_2xx_is_a_failed_call_with_status_and_body(dsn, http_server):
    event = run_one(dsn, "http", {"endpoint": f"{http_server}/status/503"})
    assert event["status"] == "error"
    error = event["payload"]["error"]
    assert error["kind"] == "http_status"
    assert error["status"] == 503
    assert error["data"] == {"error": "nope"}
    assert "503" in error["message"]
    assert "response" not in event["payload"]


def test_connection_refused_is_a_transport_error(dsn):
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]  # bound, never listening: refused
        event = run_one(dsn, "http", {"endpoint": f"http://127.0.0.1:{port}/x"})
    assert event["status"] == "error"
    assert event["payload"]["error"]["kind"] == "transport"


def test_slow_server_is_a_timeout(dsn, http_server):
    event = run_one(dsn, "http", {"endpoint": f"{http_server}/slow?seconds=3", "timeout": 0.2})
    assert event["payload"]["error"]["kind"] == "timeout"


def test_missing_endpoint_is_a_config_error(dsn):
    event = run_one(dsn, "http", {"method": "GET"})
    assert event["payload"]["error"]["kind"] == "config"
    assert "endpoint" in event["payload"]["error"]["message"]


def test_the_rendered_config_is_checked_by_the_kind_model(dsn, http_server):
    misspelt, mistyped = run_commands(
        dsn,
        ("http", {"endpiont": f"{http_server}/json"}),
        ("http", {"endpoint": f"{http_server}/json", "timeout": "{{ never rendered }}"}),
    )
    assert misspelt["payload"]["error"] == {
        "kind": "config",
        "message": "unknown field 'endpiont' of http tool; did you mean 'endpoint'?",
    }
    assert mistyped["payload"]["error"]["kind"] == "config"
    assert mistyped["payload"]["error"]["message"].startswith(
        "`timeout`: Input should be a valid number"
    )
