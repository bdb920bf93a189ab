"""The catalog over HTTP: register a playbook, list them, read one version."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request

from noetl_pg.dsl import PlaybookError
from noetl_pg.gateway.errors import ApiError
from noetl_pg.gateway.models import RegisterPlaybook
from noetl_pg.gateway.requests import (
    YAML_TYPES,
    media_type,
    query_int,
    read_body,
    read_json_object,
    validate,
)
from noetl_pg.gateway.responses import Json
from noetl_pg.protocol.client import INT4_MAX
from noetl_pg.registration import register_playbook as register_version
from noetl_pg.store.catalog import PlaybookCatalog
from noetl_pg.store.errors import PlaybookNotFound

PROBLEM_FIELDS = ("source", "line", "column", "step", "field", "message")


async def register_playbook(request: Request) -> Json:
    text = await _playbook_text(request)
    try:
        async with request.app.state.pool.connection() as conn:
            registered = await register_version(conn, text, source="playbook_yaml")
    except PlaybookError as exc:
        problems = [_problem(p) for p in exc.problems]
        raise ApiError(
            422,
            "invalid_playbook",
            f"the playbook is not valid ({len(problems)} problem"
            f"{'' if len(problems) == 1 else 's'}): {_first_message(problems)}",
            {"problems": problems},
        ) from None
    return Json(
        {
            "status": "registered",
            "name": registered.name,
            "path": registered.path,
            "version": registered.version,
            "created": registered.created,
        },
        status_code=201 if registered.created else 200,
    )


async def _playbook_text(request: Request) -> str:
    """The YAML text: `{"playbook_yaml": ...}` as JSON, or the raw body sent as YAML."""
    if media_type(request) in YAML_TYPES:
        body = await read_body(request)
        try:
            text = body.decode()
        except UnicodeDecodeError:
            raise ApiError(400, "bad_request", "the playbook is not UTF-8 text") from None
        if not text.strip():
            raise ApiError(400, "bad_request", "request body is empty; send the playbook YAML")
        return text
    data = await read_json_object(request)
    return validate(RegisterPlaybook, data).playbook_yaml


def _problem(problem: Any) -> dict[str, Any]:
    return {name: getattr(problem, name, None) for name in PROBLEM_FIELDS}


def _first_message(problems: list[dict[str, Any]]) -> str:
    if not problems:
        return "no detail"
    first = problems[0]
    where = ", ".join(
        f"{name} {first[name]}" for name in ("line", "step", "field") if first.get(name) is not None
    )
    return f"{first['message']} ({where})" if where else str(first["message"])


async def list_playbooks(request: Request) -> Json:
    async with request.app.state.pool.connection() as conn:
        rows = await PlaybookCatalog(conn).latest_playbooks()
    return Json({"playbooks": rows})


async def get_playbook(request: Request) -> Json:
    path = request.path_params["path"]
    version = None
    if "version" in request.query_params:
        version = query_int(request, "version", 1, minimum=1, maximum=INT4_MAX)
    async with request.app.state.pool.connection() as conn:
        row = await PlaybookCatalog(conn).playbook(path, version)
    if row is None:
        raise PlaybookNotFound(path, version)
    return Json(row)
