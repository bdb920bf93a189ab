"""The console in a real browser (Playwright driving Debian's chromium) against a real
gateway, engine and worker: pages render without a console error, a new execution appears
in the list without a reload, cancel and re-run work, the token is asked for, no asset is external.
The screenshots in docs/img/ come from this test (`NOETL_SCREENSHOTS=1`)."""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlparse

import pytest
from playwright.sync_api import Browser, Page, sync_playwright

from noetl_pg.gateway import create_app
from tests.integration.console.support import FAILING, HELLO, WORKTREE, daemons, start, status
from tests.integration.gateway.support import register, serve
from tests.support.processes import wait_until

CHROMIUM = "/usr/bin/chromium"
# `NOETL_SCREENSHOTS=1` refreshes docs/img/; otherwise they go to a scratch directory, so a
# test run leaves the checkout as it found it.
SCREENSHOTS = (
    Path(WORKTREE) / "docs" / "img"
    if os.environ.get("NOETL_SCREENSHOTS") == "1"
    else Path(tempfile.gettempdir()) / "noetl-console-screenshots"
)
SCREENSHOTS.mkdir(parents=True, exist_ok=True)

pytestmark = pytest.mark.skipif(
    shutil.which(CHROMIUM) is None, reason="Debian's chromium is not installed (.ci/run adds it)"
)


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        yield launched
        launched.close()


class Watched:
    """A page whose console errors and requested URLs are recorded."""

    def __init__(self, page: Page, base_url: str) -> None:
        self.page, self.base_url = page, base_url
        self.errors: list[str] = []
        self.urls: list[str] = []
        page.on("console", lambda m: m.type == "error" and self.errors.append(m.text))
        page.on("pageerror", lambda exc: self.errors.append(str(exc)))
        page.on("request", lambda request: self.urls.append(request.url))

    def external(self) -> list[str]:
        origin = urlparse(self.base_url).netloc
        return [u for u in self.urls if urlparse(u).netloc not in (origin, "")]


def _failed_and_completed(api) -> tuple[str, str]:
    """Run console/failing and console/hello to their end (daemons running): their ids."""
    register(api, HELLO)
    register(api, FAILING)
    failed = start(api, "console/failing")
    done = start(api, "console/hello")
    wait_until(lambda: status(api, failed) == "failed", "failing fails")
    wait_until(lambda: status(api, done) == "completed", "hello completes")
    return failed, done


def test_pages_live_rows_and_cancel_in_a_browser(browser, dsn, tmp_path):
    import httpx

    with serve(create_app(dsn)) as base_url, httpx.Client(base_url=base_url) as api:
        with daemons(dsn, tmp_path, "engine", "worker"):
            failed, _ = _failed_and_completed(api)

        watched = Watched(browser.new_page(viewport={"width": 1280, "height": 900}), base_url)
        page = watched.page
        page.goto(f"{base_url}/ui/")
        page.wait_for_selector("body[data-live=on]")
        assert page.locator(f"tr[data-execution={failed}]").count() == 1

        with daemons(dsn, tmp_path, "engine"):  # no worker: the new one stays running
            running = start(api, "console/hello")
            row = page.locator(f"tr[data-execution={running}]")
            row.wait_for()  # appears without a reload, over SSE
            row.locator(".badge.status-running").wait_for()
            page.screenshot(path=str(SCREENSHOTS / "executions.png"))

            page.click(f"a[href='/ui/executions/{running}']")
            page.click("button.danger")
            page.locator("#status.status-cancelled").wait_for()

        page.goto(f"{base_url}/ui/executions/{failed}")
        assert page.locator("#failing-step").inner_text() == "explode"
        assert page.locator("g.bar.failing[data-step=explode]").count() == 1
        assert page.locator("pre.source .line.marked").count() >= 2
        page.screenshot(path=str(SCREENSHOTS / "execution.png"), full_page=True)

        for path in ("/ui/playbooks", "/ui/playbooks/console/failing", "/ui/queue"):
            page.goto(base_url + path)
            assert page.locator("h1").count() == 1
        page.goto(f"{base_url}/ui/playbooks/console/hello")
        page.screenshot(path=str(SCREENSHOTS / "playbook.png"), full_page=True)

        assert watched.errors == []
        assert watched.external() == []


def test_rerun_of_a_failed_execution_in_a_browser(browser, dsn, tmp_path):
    import httpx

    with serve(create_app(dsn)) as base_url, httpx.Client(base_url=base_url) as api:
        with daemons(dsn, tmp_path, "engine", "worker"):
            failed, done = _failed_and_completed(api)
            watched = Watched(browser.new_page(), base_url)
            page = watched.page
            page.goto(f"{base_url}/ui/executions/{done}")
            assert page.locator("button", has_text="Re-run").count() == 0  # nothing failed

            page.goto(f"{base_url}/ui/executions/{failed}")
            page.click("button:has-text('Re-run failed steps')")
            page.locator("#rerun-of").wait_for()
            assert page.locator("#rerun-of").inner_text() == failed
            rerun = urlparse(page.url).path.rsplit("/", 1)[1]
            assert rerun != failed
            page.locator("#status.status-failed").wait_for()  # explode fails again, live
            assert page.locator("#failing-step").inner_text() == "explode"
        page.goto(f"{base_url}/ui/")
        assert page.locator(f"tr[data-execution={rerun}]").count() == 1
        assert watched.errors == []


def test_the_token_is_asked_for_once(browser, dsn):
    with serve(create_app(dsn, api_token="s3cret")) as base_url:
        watched = Watched(browser.new_page(), base_url)
        page = watched.page
        page.goto(f"{base_url}/ui/queue")
        assert urlparse(page.url).path == "/ui/login"
        page.fill("input[name=token]", "wrong")
        page.click("button[type=submit]")
        assert page.locator(".refusal").inner_text() == "That token is not valid."
        page.fill("input[name=token]", "s3cret")
        page.click("button[type=submit]")
        assert urlparse(page.url).path == "/ui/queue"
        page.goto(f"{base_url}/ui/")
        assert urlparse(page.url).path == "/ui/"
        assert watched.external() == []
        cookie = next(c for c in page.context.cookies() if c["name"] == "noetl_token")
        assert cookie["httpOnly"] is True
