"""Registering playbooks and reading the catalog over HTTP."""

from __future__ import annotations

from tests.integration.gateway.support import HELLO, assert_error, count, register

INVALID = """\
apiVersion: noetl.io/v2
kind: Playbook
metadata: {name: broken}
workflow:
  - step: first
    type: http
    next: nowhere
"""


def test_register_returns_name_path_and_version(api):
    response = api.post("/api/v2/engine/register-playbook", json={"playbook_yaml": HELLO})
    assert response.status_code == 201
    assert response.json() == {
        "status": "registered",
        "name": "hello",
        "path": "examples/hello",
        "version": 1,
        "created": True,
    }


def test_same_text_twice_is_the_same_version_and_a_change_is_the_next(api):
    register(api)
    again = api.post("/api/v2/engine/register-playbook", json={"playbook_yaml": HELLO})
    assert again.status_code == 200
    assert again.json()["version"] == 1
    assert again.json()["created"] is False
    changed = register(api, HELLO.replace("greeting: hi", "greeting: hello"))
    assert changed["version"] == 2


def test_register_accepts_raw_yaml(api):
    response = api.post(
        "/api/v2/engine/register-playbook",
        content=HELLO.encode(),
        headers={"Content-Type": "application/yaml"},
    )
    assert response.status_code == 201
    assert response.json()["path"] == "examples/hello"


def test_invalid_playbook_is_422_with_every_problem(api, conn):
    response = api.post("/api/v2/engine/register-playbook", json={"playbook_yaml": INVALID})
    error = assert_error(response, 422, "invalid_playbook")
    problems = error["details"]["problems"]
    assert len(problems) >= 2
    for problem in problems:
        assert set(problem) == {"source", "line", "column", "step", "field", "message"}
        assert isinstance(problem["line"], int)
    messages = " ".join(p["message"] for p in problems)
    assert "start" in messages
    assert "type" in messages
    typed = next(p for p in problems if p["field"] == "type")
    assert typed["step"] == "first"
    assert typed["line"] == 6
    assert count(conn, "playbook") == 0


def test_yaml_that_does_not_parse_is_422(api, conn):
    response = api.post(
        "/api/v2/engine/register-playbook", json={"playbook_yaml": "workflow: [unclosed"}
    )
    error = assert_error(response, 422, "invalid_playbook")
    assert error["details"]["problems"][0]["line"] is not None
    assert count(conn, "playbook") == 0


def test_register_refuses_bad_bodies(api, conn):
    url = "/api/v2/engine/register-playbook"
    assert_error(api.post(url, json={}), 422, "invalid_body")
    assert_error(api.post(url, json={"playbook_yaml": 42}), 422, "invalid_body")
    assert_error(api.post(url, json={"playbook_yaml": HELLO, "extra": 1}), 422)
    assert_error(api.post(url, json=[HELLO]), 422, "invalid_body")
    assert_error(
        api.post(url, content=b"{not json", headers={"Content-Type": "application/json"}),
        400,
        "malformed_json",
    )
    assert_error(
        api.post(url, content=b"playbook_yaml=x", headers={"Content-Type": "text/plain"}),
        415,
        "unsupported_media_type",
    )
    assert count(conn, "playbook") == 0


def test_list_playbooks_shows_the_latest_version_of_each(api):
    register(api)
    register(api, HELLO.replace("greeting: hi", "greeting: hello"))
    register(api, HELLO.replace("examples/hello", "examples/other"))
    response = api.get("/api/v2/playbooks")
    assert response.status_code == 200
    listed = {p["path"]: p for p in response.json()["playbooks"]}
    assert set(listed) == {"examples/hello", "examples/other"}
    assert listed["examples/hello"]["version"] == 2
    assert listed["examples/hello"]["name"] == "hello"
    assert isinstance(listed["examples/hello"]["created_at"], str)


def test_get_playbook_latest_or_by_version(api):
    register(api)
    register(api, HELLO.replace("greeting: hi", "greeting: hello"))
    latest = api.get("/api/v2/playbooks/examples/hello")
    assert latest.status_code == 200
    assert latest.json()["version"] == 2
    assert "greeting: hello" in latest.json()["yaml"]
    assert latest.json()["spec"]["metadata"]["name"] == "hello"
    first = api.get("/api/v2/playbooks/examples/hello", params={"version": 1})
    assert first.status_code == 200
    assert "greeting: hi\n" in first.json()["yaml"]


def test_get_playbook_errors(api):
    register(api)
    assert_error(api.get("/api/v2/playbooks/examples/none"), 404, "playbook_not_found")
    missing_version = api.get("/api/v2/playbooks/examples/hello", params={"version": 9})
    assert_error(missing_version, 404, "playbook_not_found")
    bad_version = api.get("/api/v2/playbooks/examples/hello", params={"version": "x"})
    assert_error(bad_version, 422, "invalid_query")
    assert_error(api.get("/api/v2/playbooks/examples/hello?version=0"), 422, "invalid_query")
