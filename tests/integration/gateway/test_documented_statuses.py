"""Every status the OpenAPI document gives an operation is one the gateway really answers:
a request here produces each (but 503, which needs the database gone: test_health_auth)."""

from __future__ import annotations

from collections import defaultdict

import httpx

from noetl_pg.gateway.endpoints import ENDPOINTS
from noetl_pg.gateway.openapi import document_path, openapi_document
from noetl_pg.store.db import connect
from tests.integration.gateway.support import HELLO, fake_engine
from tests.integration.gateway.test_tokens import bearer, make_token

ADMIN = "adm1n"
LIMIT = 4096  # the gateway's body limit here, so 413 is cheap to reach
EVENTS = "/api/v2/events"
REGISTER = "/api/v2/engine/register-playbook"


def test_each_documented_status_is_answered(start_gateway, dsn):
    api = start_gateway(api_token=ADMIN, max_body_bytes=LIMIT)
    admin = bearer(ADMIN)
    seen: dict[tuple[str, str], set[int]] = defaultdict(set)

    def send(method: str, route: str, url: str, **options) -> httpx.Response:
        headers = {**admin, **options.pop("headers", {})}
        response = api.request(method, url, headers=headers, **options)
        seen[(method, route)].add(response.status_code)
        return response

    too_big = {
        "content": b"{" + b" " * LIMIT + b"}",
        "headers": {"Content-Type": "application/json"},
    }
    form = {"content": b"a=1", "headers": {"Content-Type": "application/x-www-form-urlencoded"}}
    malformed = {"content": b"{", "headers": {"Content-Type": "application/json"}}

    r = REGISTER
    send("POST", r, r, json={"playbook_yaml": HELLO})  # 201
    send("POST", r, r, json={"playbook_yaml": HELLO})  # 200
    send("POST", r, r, json={"playbook_yaml": "kind: nothing"})  # 422
    for bad in (malformed, too_big, form):
        send("POST", r, r, **bad)

    e = EVENTS
    start = {"name": "workflow.start", "path": "examples/hello"}
    send("POST", e, e, params={"wait": 0}, json={**start, "execution_id": "exec-a"})  # 202
    send("POST", e, e, params={"wait": 0}, json={**start, "execution_id": "exec-a"})  # 409
    send("POST", e, e, json={**start, "path": "examples/none"})  # 404
    send("POST", e, e, json={"name": "step.enter"})  # 422
    for bad in (malformed, too_big, form):
        send("POST", e, e, **bad)
    with fake_engine(dsn):
        send("POST", e, e, params={"wait": 60}, json={**start, "execution_id": "exec-b"})  # 200

    c = "/api/v2/executions/{execution_id}/cancel"
    send("POST", c, "/api/v2/executions/exec-none/cancel")  # 404
    with fake_engine(dsn):
        send("POST", c, "/api/v2/executions/exec-b/cancel", params={"wait": 60})  # 200
    key = {"headers": {"Idempotency-Key": "k1"}}
    send("POST", c, "/api/v2/executions/exec-a/cancel", params={"wait": 0}, **key)  # 202
    send("POST", c, "/api/v2/executions/exec-a/cancel", json={"reason": "x"}, **key)  # 409
    send("POST", c, "/api/v2/executions/exec-a/cancel", json={"why": 1})  # 422
    for bad in (malformed, too_big, form):
        send("POST", c, "/api/v2/executions/exec-a/cancel", **bad)

    p = "/api/v2/playbooks/{path:path}"
    send("GET", p, "/api/v2/playbooks/examples/hello")  # 200
    send("GET", p, "/api/v2/playbooks/examples/none")  # 404
    send("GET", p, "/api/v2/playbooks/examples/hello", params={"version": "one"})  # 422
    x = "/api/v2/executions"
    send("GET", x, x)
    send("GET", x, x, params={"limit": 0})  # 422
    for route in (
        "/api/v2/executions/{execution_id}",
        *(f"{x}/{{execution_id}}/{s}" for s in ("events", "commands")),
    ):
        send("GET", route, route.replace("{execution_id}", "exec-b"))  # 200
        send("GET", route, route.replace("{execution_id}", "exec-none"))  # 404
    send("GET", f"{x}/{{execution_id}}/events", f"{x}/exec-b/events", params={"after": -1})
    for route in ("/api/v2/health", "/api/v2/playbooks", "/api/v2/queue", "/openapi.json", "/docs"):
        send("GET", route, route)

    with connect(dsn, autocommit=True) as db:
        for execution_id, status in (
            ("exec-run", "running"),
            ("exec-done", "completed"),
            ("exec-fail", "failed"),
        ):
            db.execute(
                "INSERT INTO noetl.execution (execution_id, path, version, status, active_steps,"
                " step_results, context) VALUES (%s, 'examples/hello', 1, %s, '{}', '{}', '{}')",
                [execution_id, status],
            )
    sig = "/api/v2/executions/{execution_id}/signals"
    send("POST", sig, f"{x}/exec-run/signals", json={"name": "go"})  # 202
    send("POST", sig, f"{x}/exec-none/signals", json={"name": "go"})  # 404
    send("POST", sig, f"{x}/exec-done/signals", json={"name": "go"})  # 409
    send("POST", sig, f"{x}/exec-run/signals", json={"nme": "go"})  # 422
    for bad in (malformed, too_big, form):
        send("POST", sig, f"{x}/exec-run/signals", **bad)
    rerun = "/api/v2/executions/{execution_id}/rerun"
    send("POST", rerun, f"{x}/exec-fail/rerun", json={"from_step": "start"})  # 202
    send("POST", rerun, f"{x}/exec-fail/rerun")  # 422: no failed step to enter again
    send("POST", rerun, f"{x}/exec-none/rerun")  # 404
    send("POST", rerun, f"{x}/exec-done/rerun")  # 409
    for bad in (malformed, too_big, form):
        send("POST", rerun, f"{x}/exec-fail/rerun", **bad)
    send("POST", r, r, json={"playbook_yaml": HELLO + "schedules:\n  - {every: 3600}\n"})
    send("GET", "/api/v2/schedules", "/api/v2/schedules")  # 200
    send("GET", "/api/v2/schedules", "/api/v2/schedules", params={"path": "a\x00b"})  # 422
    for verb in ("pause", "resume"):
        route = f"/api/v2/schedules/{verb}"
        send("POST", route, route, json={"path": "examples/hello"})  # 200
        send("POST", route, route, json={"path": "examples/none"})  # 404
        send("POST", route, route, json={"path": ""})  # 422
        for bad in (malformed, too_big, form):
            send("POST", route, route, **bad)
    d = "/api/v2/drain"
    send("GET", d, d)  # 200
    assert send("POST", d, d, json={"draining": True}).json()["draining"] is True  # 200
    assert api.get("/api/v2/health").json()["draining"] is True
    refused = api.post(e, headers=admin, json={**start, "execution_id": "exec-d"})
    assert (refused.status_code, refused.json()["error"]["code"]) == (503, "draining")
    refused = api.post(f"{x}/exec-fail/rerun", headers=admin, json={"from_step": "start"})
    assert (refused.status_code, refused.json()["error"]["code"]) == (503, "draining")
    client = bearer(make_token(dsn, "client"))
    assert api.post(d, headers=client, json={"draining": False}).status_code == 403  # admin only
    send("POST", d, d, json={"draining": False})  # 200
    assert api.get("/api/v2/health").json()["draining"] is False
    send("POST", d, d, json={"draining": "maybe"})  # 422
    for bad in (malformed, too_big, form):
        send("POST", d, d, **bad)
    send("GET", "/metrics", "/metrics")  # 200

    lost = {"queue_id": 1, "worker_id": "w", "attempt": 1}  # no such lease: fenced out
    work_requests = {
        "lease": {"worker_id": "w", "max": 2, "wait": 0},
        "heartbeat": {"leases": [lost]},
        "release": {"leases": [lost]},
        "report": {"lease": lost, "ok": True, "payload": {"response": 1}},
        "child": {"lease": lost, "child_execution_id": "exec-c", "payload": {}},
        "wait": {"lease": lost, "after": 1},
    }
    # A report may carry a result up to NOETL_MAX_RESULT_BYTES (1 MiB) past the body limit.
    too_big_report = {**too_big, "content": b"{" + b" " * (LIMIT + 2**20 + 2**16) + b"}"}
    for name, body in work_requests.items():
        route = f"/api/v2/workers/{name}"
        send("POST", route, route, json=body)  # 200
        send("POST", route, route, json={**body, "unknown": 1})  # 422
        for bad in (malformed, too_big_report if name == "report" else too_big, form):
            send("POST", route, route, **bad)

    # Auth: no token is 401; a token whose role may not do it is 403.
    worker, reader = bearer(make_token(dsn, "worker")), bearer(make_token(dsn, "reader"))
    for endpoint in ENDPOINTS:
        if endpoint.public:
            continue
        url = endpoint.path.replace("{path:path}", "examples/hello").replace(
            "{execution_id}", "exec-b"
        )
        for headers in (
            {"Authorization": "Bearer wrong"},
            worker if endpoint.method == "GET" else reader,
        ):
            response = api.request(endpoint.method, url, headers=headers, json={})
            seen[(endpoint.method, endpoint.path)].add(response.status_code)

    document = openapi_document(ENDPOINTS)
    for endpoint in ENDPOINTS:
        operation = document["paths"][document_path(endpoint.path)][endpoint.method.lower()]
        documented = {int(status) for status in operation["responses"]} - {503}
        assert documented == seen[(endpoint.method, endpoint.path)], (
            endpoint.method,
            endpoint.path,
        )
