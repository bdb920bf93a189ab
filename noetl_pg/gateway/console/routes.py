"""The console's pages and actions. Pages read through the store's readers; actions write
through `ClientEvents`, the one write path of client events, and answer a `StoreError` with
the status the gateway's API gives it (gateway/errors.py)."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlencode

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import BaseRoute, Mount, Route
from starlette.staticfiles import StaticFiles

from noetl_pg.gateway.auth import TOKEN_COOKIE, role_of
from noetl_pg.gateway.console import graph, timeline
from noetl_pg.gateway.console.live import live
from noetl_pg.gateway.console.render import TEMPLATES
from noetl_pg.gateway.errors import STORE_REFUSALS
from noetl_pg.gateway.executions import decode_cursor, encode_cursor
from noetl_pg.protocol import TERMINAL, EventName, ExecutionStatus, StepStatus
from noetl_pg.store.catalog import PlaybookCatalog
from noetl_pg.store.console import ConsoleReader
from noetl_pg.store.control import ClientEvents
from noetl_pg.store.drain import is_draining
from noetl_pg.store.errors import StoreError
from noetl_pg.store.executions import ExecutionReader
from noetl_pg.store.rerun import RERUNNABLE, rerun

PAGE_SIZE = 50
STATUSES = [str(status) for status in ExecutionStatus]


def page(request: Request, name: str, status_code: int = 200, **context: Any) -> Response:
    return TEMPLATES.TemplateResponse(request, name, context, status_code=status_code)


async def executions(request: Request) -> Response:
    return page(request, "executions.html", **await _executions_context(request))


async def execution_rows(request: Request) -> Response:
    return page(request, "_execution_rows.html", **await _executions_context(request))


async def _executions_context(request: Request) -> dict[str, Any]:
    status = request.query_params.get("status") or None
    if status not in (None, *STATUSES):
        status = None
    path = request.query_params.get("path") or None
    after = decode_cursor(request.query_params.get("cursor"))
    async with request.app.state.pool.connection() as conn:
        rows = await ExecutionReader(conn).executions(
            status=ExecutionStatus(status) if status else None,
            path=path,
            limit=PAGE_SIZE,
            after=after,
        )
        counts = await ConsoleReader(conn).executions_per_status()
        draining = await is_draining(conn)
    filters = {k: v for k, v in {"status": status, "path": path}.items() if v}
    next_page = None
    if len(rows) == PAGE_SIZE:
        next_page = "?" + urlencode({**filters, "cursor": encode_cursor(rows[-1])})
    return {
        "rows": rows,
        "counts": counts,
        "draining": draining,
        "statuses": STATUSES,
        "status": status,
        "path": path or "",
        "query": urlencode(
            {
                **filters,
                **(
                    {"cursor": request.query_params["cursor"]}
                    if request.query_params.get("cursor")
                    else {}
                ),
            }
        ),
        "next_page": next_page,
    }


async def execution(request: Request) -> Response:
    return page(request, "execution.html", **await _execution_context(request))


async def execution_live(request: Request) -> Response:
    return page(request, "_execution_body.html", **await _execution_context(request))


async def _execution_context(request: Request, message: str | None = None) -> dict[str, Any]:
    execution_id = request.path_params["execution_id"]
    async with request.app.state.pool.connection() as conn:
        reader = ExecutionReader(conn)
        state = await reader.state_of(execution_id)
        summary = await reader.summary_of(execution_id)
        events = await reader.events_of(execution_id, limit=10_000)
        commands = await reader.commands_of(execution_id)
        children = await ConsoleReader(conn).children_of(execution_id)
        source = None
        if summary and summary["path"]:
            source = await PlaybookCatalog(conn).playbook(summary["path"], summary["version"])
    if state is None:
        return {"missing": execution_id, "execution_id": execution_id}
    found = timeline.bars(events, commands)
    failing = {bar.step for bar in found if bar.status == StepStatus.FAILED}
    return {
        "execution_id": execution_id,
        "state": state,
        "summary": summary or {},
        "events": events,
        "commands": commands,
        "children": children,
        "timeline": timeline.svg(found, datetime.now(UTC)),
        "failing": sorted(failing),
        "source_lines": _marked_lines(source["yaml"], failing) if source else [],
        "finished": state["status"] in TERMINAL,
        "rerunnable": state["status"] in RERUNNABLE,
        "rerun_of": _rerun_of(events),
        "message": message,
    }


def _rerun_of(events: list[dict[str, Any]]) -> str | None:
    """The execution this one re-runs, from its workflow.start (store/rerun.py)."""
    first = events[0] if events else {}
    payload = first.get("payload")
    if first.get("name") != EventName.WORKFLOW_START or not isinstance(payload, dict):
        return None
    return payload.get("rerun_of") if isinstance(payload.get("rerun_of"), str) else None


def _marked_lines(text: str, failing: set[str]) -> list[tuple[int, str, bool]]:
    """The playbook's lines, those of a failing step's block marked."""
    marked, inside, indent = [], False, -1
    for number, line in enumerate(text.splitlines(), 1):
        stripped = line.lstrip()
        if stripped.startswith("- step:"):
            inside = stripped.removeprefix("- step:").strip().strip("'\"") in failing
            indent = len(line) - len(stripped)
        elif inside and stripped and len(line) - len(stripped) <= indent:
            inside = False
        marked.append((number, line, inside))
    return marked


async def cancel(request: Request) -> Response:
    execution_id = request.path_params["execution_id"]
    return await _act(request, execution_id, lambda e: e.cancel_execution(execution_id, "console"))


async def start_again(request: Request) -> Response:
    execution_id = request.path_params["execution_id"]
    async with request.app.state.pool.connection() as conn:
        original = await ConsoleReader(conn).workload_of(execution_id)
    if original is None:
        return page(request, "execution.html", 404, missing=execution_id)
    return await _act(
        request,
        execution_id,
        lambda e: e.start_execution(
            original["path"], version=original["version"], workload=original["workload"]
        ),
    )


async def rerun_execution(request: Request) -> Response:
    """A new execution that enters again the steps this failed one failed in."""
    execution_id = request.path_params["execution_id"]
    return await _act(request, execution_id, lambda e: rerun(e.conn, execution_id))


async def start_playbook(request: Request) -> Response:
    form = await _form(request)
    path, version = request.path_params["path"], int(form.get("version") or 0) or None
    try:
        workload = json.loads(form.get("workload") or "{}")
        if not isinstance(workload, dict):
            raise ValueError("the workload must be a JSON object")
    except ValueError as exc:
        return await _playbook_page(request, path, version, f"workload: {exc}", 422)
    try:
        async with request.app.state.pool.connection() as conn:
            accepted = await ClientEvents(conn).start_execution(
                path, version=version, workload=workload
            )
    except StoreError as exc:
        return await _playbook_page(request, path, version, exc.message, refusal_status(exc))
    return RedirectResponse(f"/ui/executions/{accepted.execution_id}", status_code=303)


async def _act(request: Request, execution_id: str, write: Any) -> Response:
    try:
        async with request.app.state.pool.connection() as conn:
            accepted = await write(ClientEvents(conn))
    except StoreError as exc:
        context = await _execution_context(request, message=exc.message)
        return page(request, "execution.html", refusal_status(exc), **context)
    new_id = accepted if isinstance(accepted, str) else accepted.execution_id  # rerun: an id
    return RedirectResponse(f"/ui/executions/{new_id}", status_code=303)


def refusal_status(exc: StoreError) -> int:
    """The HTTP status the API answers this refusal with."""
    return next((STORE_REFUSALS[c][0] for c in type(exc).__mro__ if c in STORE_REFUSALS), 500)


async def playbooks(request: Request) -> Response:
    async with request.app.state.pool.connection() as conn:
        rows = await ConsoleReader(conn).playbook_versions()
    grouped: dict[str, list[dict[str, Any]]] = {}
    for row in rows:
        grouped.setdefault(row["path"], []).append(row)
    return page(request, "playbooks.html", playbooks=grouped)


async def playbook(request: Request) -> Response:
    version = request.query_params.get("version")
    return await _playbook_page(
        request, request.path_params["path"], int(version) if version else None
    )


async def _playbook_page(
    request: Request, path: str, version: int | None, message: str | None = None, code: int = 200
) -> Response:
    async with request.app.state.pool.connection() as conn:
        row = await PlaybookCatalog(conn).playbook(path, version)
    if row is None:
        return page(request, "playbook.html", 404, missing=path, path=path)
    workload = json.dumps(row["spec"].get("workload") or {}, indent=2)
    return page(
        request,
        "playbook.html",
        code,
        path=path,
        playbook=row,
        graph=graph.svg(row["spec"]),
        workload=workload,
        message=message,
    )


async def queue(request: Request) -> Response:
    return page(request, "queue.html", **await _queue_context(request))


async def queue_live(request: Request) -> Response:
    return page(request, "_queue_body.html", **await _queue_context(request))


async def _queue_context(request: Request) -> dict[str, Any]:
    async with request.app.state.pool.connection() as conn:
        depth = await ExecutionReader(conn).queue_depth()
        workers = await ConsoleReader(conn).workers_seen()
        draining = await is_draining(conn)
    return {"depth": depth, "workers": workers, "draining": draining}


async def login_form(request: Request) -> Response:
    return page(request, "login.html", next=request.query_params.get("next", "/ui/"))


async def login(request: Request) -> Response:
    form = await _form(request)
    token = form.get("token", "").strip()
    target = form.get("next") or "/ui/"
    if not target.startswith("/ui"):
        target = "/ui/"
    admin = request.app.state.api_token
    async with request.app.state.pool.connection() as conn:
        role = await role_of(token.encode(), admin.encode() if admin else None, conn)
    if role is None:
        return page(request, "login.html", 401, next=target, message="That token is not valid.")
    response = RedirectResponse(target, status_code=303)
    response.set_cookie(TOKEN_COOKIE, token, httponly=True, samesite="strict", path="/ui")
    return response


async def _form(request: Request) -> dict[str, str]:
    """A urlencoded form (the console's forms are never multipart)."""
    parsed = parse_qs((await request.body()).decode(), keep_blank_values=True)
    return {key: values[-1] for key, values in parsed.items()}


def routes() -> list[BaseRoute]:
    static = StaticFiles(directory=str(Path(__file__).parent / "static"))
    return [
        Mount(
            "/ui",
            routes=[
                Route("/", executions, methods=["GET"]),
                Route("/rows", execution_rows, methods=["GET"]),
                Route("/live", live, methods=["GET"]),
                Route("/login", login_form, methods=["GET"]),
                Route("/login", login, methods=["POST"]),
                Route("/executions/{execution_id}", execution, methods=["GET"]),
                Route("/executions/{execution_id}/body", execution_live, methods=["GET"]),
                Route("/executions/{execution_id}/cancel", cancel, methods=["POST"]),
                Route("/executions/{execution_id}/start-again", start_again, methods=["POST"]),
                Route("/executions/{execution_id}/rerun", rerun_execution, methods=["POST"]),
                Route("/playbooks", playbooks, methods=["GET"]),
                Route("/playbooks/{path:path}/start", start_playbook, methods=["POST"]),
                Route("/playbooks/{path:path}", playbook, methods=["GET"]),
                Route("/queue", queue, methods=["GET"]),
                Route("/queue/body", queue_live, methods=["GET"]),
                Mount("/static", app=static, name="static"),
            ],
        ),
    ]
