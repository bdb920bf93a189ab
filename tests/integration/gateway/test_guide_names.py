"""The user's guide's names: the API mounted in the user's own app, `state_store`,
`python -m noetl_pg.gateway`."""

from __future__ import annotations

import contextlib
import subprocess
import sys
from collections.abc import AsyncIterator

import httpx
from starlette.applications import Starlette
from starlette.responses import PlainTextResponse
from starlette.routing import Mount, Route

from noetl_pg import state_store
from noetl_pg.gateway import create_app
from tests.integration.gateway.support import HELLO, serve


def users_app(dsn: str, **options: object) -> Starlette:
    """What docs/guide.md shows: our API under /noetl beside the user's own routes."""
    noetl_api = create_app(dsn, **options)

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        async with noetl_api.router.lifespan_context(noetl_api):  # opens the API's pool
            yield

    async def home(request: object) -> PlainTextResponse:
        return PlainTextResponse("the user's own page")

    return Starlette(routes=[Route("/", home), Mount("/noetl", app=noetl_api)], lifespan=lifespan)


def test_the_api_mounts_in_a_users_starlette_app(dsn):
    with serve(users_app(dsn, api_token="s3cret")) as url, httpx.Client(base_url=url) as http:
        assert http.get("/").text == "the user's own page"
        assert http.get("/noetl/api/v2/health").status_code == 200  # public, under the prefix
        assert http.get("/noetl/api/v2/playbooks").status_code == 401
        auth = {"Authorization": "Bearer s3cret"}
        registered = http.post(
            "/noetl/api/v2/engine/register-playbook", json={"playbook_yaml": HELLO}, headers=auth
        )
        assert registered.status_code == 201, registered.text
        started = http.post(
            "/noetl/api/v2/events",
            params={"wait": 0},
            json={"name": "workflow.start", "path": "examples/hello"},
            headers=auth,
        ).json()
        state = http.get(f"/noetl/api/v2/executions/{started['execution_id']}", headers=auth)
        assert state.json()["status"] == "pending"

        guide_state = state_store.get_state(started["execution_id"], dsn=dsn)
        assert guide_state.workflow_status == "pending"
        assert guide_state.current_step is None
        assert guide_state.step_results == {} and guide_state.context == {}


def test_python_m_noetl_pg_gateway_is_the_gateway():
    done = subprocess.run(
        [sys.executable, "-m", "noetl_pg.gateway", "--help"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    assert "noetl-gateway" in done.stdout and "NOETL_API_TOKEN" in done.stdout
