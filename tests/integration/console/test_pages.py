"""The console over plain HTTP against a real gateway, engine and worker: every page
renders what the tables hold, actions go through the store's write path, and the token is
asked for once."""

from __future__ import annotations

import html
import re

from tests.integration.console.support import FAILING, HELLO, daemons, start, status
from tests.integration.gateway.support import register
from tests.support.processes import wait_until


def test_pages_show_a_completed_and_a_failed_run(api, dsn, tmp_path):
    register(api, HELLO)
    register(api, FAILING)
    with daemons(dsn, tmp_path, "engine", "worker"):
        done = start(api, "console/hello", {"n": 21})
        failed = start(api, "console/failing")
        wait_until(lambda: status(api, done) == "completed", "hello completes")
        wait_until(lambda: status(api, failed) == "failed", "failing fails")

    listing = api.get("/ui/")
    assert listing.status_code == 200
    assert done in listing.text and failed in listing.text
    assert re.search(r"completed <b>1</b>", listing.text)
    only_failed = api.get("/ui/", params={"status": "failed"}).text
    assert failed in only_failed and done not in only_failed

    page = api.get(f"/ui/executions/{failed}").text
    assert 'class="bar status-failed failing" data-step="explode"' in page
    assert '<dd class="error" id="failing-step">explode</dd>' in page
    assert "boom" in page
    marked = re.findall(r'<span class="line marked"><i>\d+</i>([^<]*)</span>', page)
    assert any("step: explode" in line for line in marked)
    assert not any("step: start" in line for line in marked)

    ok = html.unescape(api.get(f"/ui/executions/{done}").text)
    assert '"twice": 42' in ok
    assert 'data-step="start"' in ok and 'data-step="end"' in ok

    playbook = api.get("/ui/playbooks/console/hello").text
    assert "<svg" in playbook and ">start</text>" in playbook and ">end</text>" in playbook
    assert "console/hello" in api.get("/ui/playbooks").text
    queue = api.get("/ui/queue").text
    assert "done" in queue and "Workers seen" in queue


def test_cancel_of_a_running_execution_is_accepted_and_of_a_finished_one_refused(
    api, dsn, tmp_path
):
    register(api, HELLO)
    with daemons(dsn, tmp_path, "engine"):  # no worker: the execution stays running
        execution_id = start(api, "console/hello")
        wait_until(lambda: status(api, execution_id) == "running", "the engine starts it")
        response = api.post(f"/ui/executions/{execution_id}/cancel", follow_redirects=False)
        assert response.status_code == 303, response.text
        wait_until(lambda: status(api, execution_id) == "cancelled", "the cancel is applied")
        again = api.post(f"/ui/executions/{execution_id}/cancel", follow_redirects=False)
    assert again.status_code == 409
    assert 'role="alert"' in again.text and "cancelled" in again.text


def test_rerun_of_a_completed_or_missing_execution_is_refused_on_the_page(api, dsn, tmp_path):
    register(api, HELLO)
    with daemons(dsn, tmp_path, "engine", "worker"):
        done = start(api, "console/hello")
        wait_until(lambda: status(api, done) == "completed", "hello completes")
    assert "Re-run" not in api.get(f"/ui/executions/{done}").text
    refused = api.post(f"/ui/executions/{done}/rerun", follow_redirects=False)
    assert refused.status_code == 409
    assert 'role="alert"' in refused.text and "completed" in refused.text
    missing = api.post("/ui/executions/exec-nope/rerun", follow_redirects=False)
    assert missing.status_code == 404
    assert "exec-nope" in missing.text


def test_start_again_and_start_form_go_through_the_write_path(api, dsn, tmp_path):
    register(api, HELLO)
    with daemons(dsn, tmp_path, "engine", "worker"):
        form = api.post(
            "/ui/playbooks/console/hello/start",
            content="version=1&workload=%7B%22n%22%3A+5%7D",
            headers={"content-type": "application/x-www-form-urlencoded"},
            follow_redirects=False,
        )
        assert form.status_code == 303
        first = form.headers["location"].rsplit("/", 1)[1]
        wait_until(lambda: status(api, first) == "completed", "the form's run completes")
        again = api.post(f"/ui/executions/{first}/start-again", follow_redirects=False)
        assert again.status_code == 303
        second = again.headers["location"].rsplit("/", 1)[1]
        assert second != first
        wait_until(lambda: status(api, second) == "completed", "the second run completes")
    assert '"twice": 10' in html.unescape(api.get(f"/ui/executions/{second}").text)


def start_form(api, workload: str):
    """The console's start form for console/hello, with this (URL-encoded) workload."""
    return api.post(
        "/ui/playbooks/console/hello/start",
        content=f"workload={workload}",
        headers={"content-type": "application/x-www-form-urlencoded"},
    )


def test_a_workload_that_is_not_an_object_is_refused_naming_the_field(api):
    register(api, HELLO)
    response = start_form(api, "%5B1%5D")
    assert response.status_code == 422
    assert "workload: the workload must be a JSON object" in response.text


def test_with_a_token_the_console_asks_once_and_sets_an_httponly_cookie(start_gateway):
    api = start_gateway(api_token="s3cret")
    first = api.get("/ui/", follow_redirects=False)
    assert first.status_code == 303 and first.headers["location"].startswith("/ui/login")
    assert api.get("/ui/queue/body", follow_redirects=False).status_code == 303
    assert api.get("/ui/static/console.css").status_code == 200
    wrong = api.post(
        "/ui/login",
        content="token=nope&next=/ui/",
        headers={"content-type": "application/x-www-form-urlencoded"},
    )
    assert wrong.status_code == 401
    login = api.post(
        "/ui/login",
        content="token=s3cret&next=/ui/queue",
        headers={"content-type": "application/x-www-form-urlencoded"},
        follow_redirects=False,
    )
    assert login.status_code == 303 and login.headers["location"] == "/ui/queue"
    assert "httponly" in login.headers["set-cookie"].lower()
    assert api.get("/ui/queue").status_code == 200  # the client keeps the cookie
    assert api.get("/api/v2/queue").status_code == 401  # the API still wants the header


def test_the_console_says_when_the_deployment_drains_and_refuses_a_start(api):
    register(api, HELLO)
    assert "Draining" not in api.get("/ui/").text
    assert api.post("/api/v2/drain", json={"draining": True}).status_code == 200
    assert "Draining: new workflows are refused" in api.get("/ui/").text
    assert "Draining: new workflows are refused" in api.get("/ui/queue").text
    response = start_form(api, "%7B%7D")
    assert response.status_code == 503
    assert "draining" in response.text
    assert api.post("/api/v2/drain", json={"draining": False}).status_code == 200
    assert "Draining" not in api.get("/ui/").text
