"""Health, bearer auth, the error shape of unknown routes, and the API description."""

from __future__ import annotations

import re
import socket

import httpx
import pytest

from noetl_pg.gateway import create_app
from tests.integration.gateway.support import assert_error, serve

PROTECTED = [
    ("GET", "/api/v2/playbooks"),
    ("GET", "/api/v2/playbooks/examples/hello"),
    ("GET", "/api/v2/executions"),
    ("GET", "/api/v2/executions/exec-1"),
    ("GET", "/api/v2/executions/exec-1/events"),
    ("POST", "/api/v2/executions/exec-1/cancel"),
    ("POST", "/api/v2/events"),
    ("POST", "/api/v2/engine/register-playbook"),
    ("GET", "/openapi.json"),
    ("GET", "/docs"),
]


def test_health_reports_the_database(api):
    response = api.get("/api/v2/health")
    assert response.status_code == 200
    assert response.json()["status"] == "ok"
    assert response.json()["database"] == "ok"


def test_health_is_503_when_the_database_is_unreachable():
    with socket_nobody_listens_on() as port:
        app = create_app(f"postgresql://127.0.0.1:{port}/nothing?connect_timeout=1")
        with serve(app) as url:
            response = httpx.get(f"{url}/api/v2/health", timeout=60)
    error = assert_error(response, 503, "database_unavailable")
    assert "not reachable" in error["message"]
    assert response.json()["status"] == "unavailable"


def test_health_is_503_without_the_schema(databases, start_gateway):
    bare = databases.fresh(migrated=False)
    with serve(create_app(bare)) as url:
        response = httpx.get(f"{url}/api/v2/health", timeout=60)
    error = assert_error(response, 503, "schema_missing")
    assert "db upgrade" in error["message"]


def test_without_a_token_every_endpoint_is_open(api):
    assert api.get("/api/v2/playbooks").status_code == 200
    assert api.get("/openapi.json").status_code == 200


@pytest.mark.parametrize(("method", "path"), PROTECTED)
def test_with_a_token_every_endpoint_but_health_needs_it(start_gateway, conn, method, path):
    api = start_gateway(api_token="s3cret")
    assert api.get("/api/v2/health").status_code == 200
    for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": "Basic s3cret"}):
        response = api.request(method, path, headers=headers, json={"name": "workflow.start"})
        assert_error(response, 401, "unauthorized")
        assert response.headers["www-authenticate"].startswith("Bearer")
    assert conn.execute("SELECT count(*) AS n FROM noetl.event").fetchone()["n"] == 0


def test_the_right_token_opens_the_endpoints(start_gateway):
    api = start_gateway(api_token="s3cret")
    response = api.get("/api/v2/playbooks", headers={"Authorization": "Bearer s3cret"})
    assert response.status_code == 200
    assert response.json() == {"playbooks": []}


def test_unknown_route_and_wrong_method_have_the_error_shape(api):
    assert_error(api.get("/api/v2/nothing"), 404, "not_found")
    assert_error(api.delete("/api/v2/events"), 405, "method_not_allowed")


def test_openapi_describes_every_endpoint(api):
    response = api.get("/openapi.json")
    assert response.status_code == 200
    document = response.json()
    assert document["openapi"].startswith("3.")
    paths = document["paths"]
    for path, methods in {
        "/api/v2/health": ["get"],
        "/api/v2/engine/register-playbook": ["post"],
        "/api/v2/events": ["post"],
        "/api/v2/playbooks": ["get"],
        "/api/v2/playbooks/{path}": ["get"],
        "/api/v2/executions": ["get"],
        "/api/v2/executions/{execution_id}": ["get"],
        "/api/v2/executions/{execution_id}/events": ["get"],
        "/api/v2/executions/{execution_id}/cancel": ["post"],
    }.items():
        assert set(methods) <= set(paths[path]), path


def test_docs_page_renders_the_description(api):
    response = api.get("/docs")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    assert "/api/v2/events" in response.text
    assert "swagger-ui" in response.text


def test_docs_page_loads_only_assets_the_gateway_serves(start_gateway):
    api = start_gateway(api_token="s3cret")
    page = api.get("/docs", headers={"Authorization": "Bearer s3cret"}).text
    assets = re.findall(r'(?:src|href)="([^"]+)"', page)
    assert assets, page[:500]
    assert not re.search(r"https?://", page.split("<script>")[0] + "".join(assets))
    for asset in assets:
        assert asset.startswith("/docs/assets/"), asset
        response = api.get(asset)  # public: a browser sends no bearer token for a <script>
        assert response.status_code == 200, asset
        assert len(response.content) > 1000
    assert any(a.endswith("swagger-ui-bundle.js") for a in assets)


class socket_nobody_listens_on:
    """A port that refuses connections: bound, never listened on."""

    def __enter__(self) -> int:
        self._sock = socket.socket()
        self._sock.bind(("127.0.0.1", 0))
        return self._sock.getsockname()[1]

    def __exit__(self, *exc: object) -> None:
        self._sock.close()
