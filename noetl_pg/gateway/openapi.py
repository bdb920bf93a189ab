"""The API description (`/openapi.json`), written by hand, and a `/docs` page for it."""

from __future__ import annotations

import html
import json
from typing import Any

from starlette.requests import Request
from starlette.responses import HTMLResponse

from noetl_pg.gateway.models import CLIENT_EVENTS
from noetl_pg.gateway.responses import Json


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def _json(schema: dict[str, Any], description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def _error(description: str) -> dict[str, Any]:
    return _json(_ref("Error"), description)


def _query(name: str, schema: dict[str, Any], description: str) -> dict[str, Any]:
    return {
        "name": name,
        "in": "query",
        "required": False,
        "schema": schema,
        "description": description,
    }


def _path(name: str, description: str) -> dict[str, Any]:
    return {
        "name": name,
        "in": "path",
        "required": True,
        "schema": {"type": "string"},
        "description": description,
    }


WAIT = _query(
    "wait",
    {"type": "number", "minimum": 0, "maximum": 60, "default": 5},
    "seconds to wait until an engine has applied the event (0: answer at once)",
)
IDEMPOTENCY_KEY = {
    "name": "Idempotency-Key",
    "in": "header",
    "required": False,
    "schema": {"type": "string", "maxLength": 255},
    "description": "a retried request with the same key gets the first answer and writes nothing",
}
EXECUTION_ID = _path("execution_id", "the execution id ('exec-' and 32 hex digits by default)")
BAD_INPUT = {
    "400": _error("malformed JSON"),
    "401": _error("missing or wrong bearer token"),
    "413": _error("body larger than the limit"),
    "415": _error("body is not application/json"),
    "422": _error("wrong types, unknown fields or names, missing fields"),
}
EVENT_ANSWERS = {
    "200": _json(_ref("Processed"), "an engine applied the event within `wait`"),
    "202": _json(_ref("Accepted"), "stored; no engine applied it within `wait`"),
    **BAD_INPUT,
    "404": _error("unknown playbook (workflow.start) or execution (workflow.cancel)"),
    "409": _error("execution already started or finished; lease not held (call.done)"),
}

SCHEMAS: dict[str, Any] = {
    "Error": {
        "type": "object",
        "required": ["error"],
        "properties": {
            "error": {
                "type": "object",
                "required": ["code", "message", "details"],
                "properties": {
                    "code": {"type": "string", "example": "invalid_body"},
                    "message": {"type": "string"},
                    "details": {"description": "machine-readable context, e.g. `problems`"},
                },
            }
        },
    },
    "EventIn": {
        "type": "object",
        "required": ["name"],
        "additionalProperties": False,
        "properties": {
            "name": {"type": "string", "enum": list(CLIENT_EVENTS)},
            "execution_id": {
                "type": "string",
                "maxLength": 64,
                "description": "generated for workflow.start when absent",
            },
            "step": {"type": "string"},
            "payload": {
                "type": "object",
                "description": (
                    "workflow.start: {path, version?, workload?}; workflow.cancel: {reason?}; "
                    "call.done: {response} or {error: {kind, message, ...}}"
                ),
            },
            "path": {"type": "string", "description": "workflow.start: folded into payload"},
            "version": {"type": "integer", "minimum": 1},
            "workload": {"type": "object"},
            "queue_id": {"type": "integer", "description": "call.done: the command held"},
            "worker_id": {"type": "string", "description": "call.done: the lease holder"},
            "attempt": {"type": "integer", "description": "call.done: the leased attempt"},
        },
    },
    "Accepted": {
        "type": "object",
        "properties": {
            "status": {"const": "accepted"},
            "event_id": {"type": "integer"},
            "execution_id": {"type": "string"},
        },
    },
    "Processed": {
        "type": "object",
        "properties": {
            "status": {"const": "processed"},
            "event_id": {"type": "integer"},
            "execution_id": {"type": "string"},
            "commands_generated": {"type": "integer"},
            "error": {"type": "string", "description": "why the engine refused it"},
        },
    },
    "ExecutionState": {
        "type": "object",
        "required": [
            "execution_id",
            "path",
            "status",
            "current_steps",
            "step_results",
            "context",
            "result",
            "error",
        ],
        "properties": {
            "execution_id": {"type": "string"},
            "path": {"type": "string", "nullable": True},
            "status": {
                "type": "string",
                "enum": ["pending", "running", "completed", "failed", "cancelled"],
            },
            "current_steps": {"type": "array", "items": {"type": "string"}},
            "step_results": {"type": "object", "description": "step name -> latest result"},
            "context": {"type": "object"},
            "result": {"nullable": True},
            "error": {"type": "string", "nullable": True},
        },
    },
    "ExecutionSummary": {
        "type": "object",
        "properties": {
            name: {"type": "string", "nullable": True}
            for name in (
                "execution_id",
                "path",
                "status",
                "parent_execution_id",
                "error",
                "created_at",
                "updated_at",
                "finished_at",
            )
        }
        | {"version": {"type": "integer"}},
    },
    "Event": {
        "type": "object",
        "properties": {
            "event_id": {"type": "integer"},
            "execution_id": {"type": "string"},
            "name": {"type": "string"},
            "step": {"type": "string", "nullable": True},
            "status": {"type": "string", "nullable": True},
            "payload": {"type": "object"},
            "queue_id": {"type": "integer", "nullable": True},
            "created_at": {"type": "string", "format": "date-time"},
            "processed_at": {"type": "string", "format": "date-time", "nullable": True},
            "error": {"type": "string", "nullable": True},
            "commands_generated": {"type": "integer", "nullable": True},
            "diagnostic": {"nullable": True},
        },
    },
    "PlaybookSummary": {
        "type": "object",
        "properties": {
            "path": {"type": "string"},
            "version": {"type": "integer"},
            "name": {"type": "string"},
            "label": {"type": "string", "nullable": True},
            "created_at": {"type": "string", "format": "date-time"},
        },
    },
    "Registered": {
        "type": "object",
        "properties": {
            "status": {"const": "registered"},
            "name": {"type": "string"},
            "path": {"type": "string"},
            "version": {"type": "integer"},
            "created": {"type": "boolean"},
        },
    },
    "Problem": {
        "type": "object",
        "properties": {
            "source": {"type": "string"},
            "line": {"type": "integer"},
            "column": {"type": "integer"},
            "step": {"type": "string"},
            "field": {"type": "string"},
            "message": {"type": "string"},
        },
    },
}

PATHS: dict[str, Any] = {
    "/api/v2/health": {
        "get": {
            "summary": "Is the gateway up and the database reachable?",
            "security": [],
            "responses": {
                "200": _json(
                    {
                        "type": "object",
                        "properties": {"status": {"const": "ok"}, "database": {"const": "ok"}},
                    },
                    "healthy",
                ),
                "503": _error("the database is unreachable or has no schema"),
            },
        }
    },
    "/api/v2/engine/register-playbook": {
        "post": {
            "summary": "Register a playbook (a new version unless the same text was registered)",
            "requestBody": {
                "required": True,
                "content": {
                    "application/json": {
                        "schema": {
                            "type": "object",
                            "required": ["playbook_yaml"],
                            "properties": {"playbook_yaml": {"type": "string"}},
                        }
                    },
                    "application/yaml": {"schema": {"type": "string"}},
                },
            },
            "responses": {
                "201": _json(_ref("Registered"), "a new version was stored"),
                "200": _json(_ref("Registered"), "this exact text was already registered"),
                **BAD_INPUT,
                "422": _error(
                    "invalid playbook: details.problems lists every problem "
                    "(source, line, column, step, field, message)"
                ),
            },
        }
    },
    "/api/v2/events": {
        "post": {
            "summary": "Send an event: workflow.start, workflow.cancel, or call.done",
            "parameters": [WAIT, IDEMPOTENCY_KEY],
            "requestBody": {
                "required": True,
                "content": {"application/json": {"schema": _ref("EventIn")}},
            },
            "responses": EVENT_ANSWERS,
        }
    },
    "/api/v2/playbooks": {
        "get": {
            "summary": "The latest version of every registered playbook",
            "responses": {
                "200": _json(
                    {
                        "type": "object",
                        "properties": {
                            "playbooks": {"type": "array", "items": _ref("PlaybookSummary")}
                        },
                    },
                    "the catalog",
                )
            },
        }
    },
    "/api/v2/playbooks/{path}": {
        "get": {
            "summary": "One playbook: the latest version, or `?version=`",
            "parameters": [
                _path("path", "catalog path, may contain '/'"),
                _query("version", {"type": "integer", "minimum": 1}, "a version number"),
            ],
            "responses": {
                "200": _json(
                    {"type": "object"},
                    "path, version, name, label, yaml, spec, content_hash, created_at",
                ),
                "404": _error("no such playbook or version"),
            },
        }
    },
    "/api/v2/executions": {
        "get": {
            "summary": "Executions, newest first",
            "parameters": [
                _query(
                    "status",
                    {
                        "type": "string",
                        "enum": ["pending", "running", "completed", "failed", "cancelled"],
                    },
                    "filter",
                ),
                _query("path", {"type": "string"}, "filter by playbook path"),
                _query(
                    "limit",
                    {"type": "integer", "minimum": 1, "maximum": 500, "default": 50},
                    "page size",
                ),
                _query("cursor", {"type": "string"}, "next_cursor of the previous page"),
            ],
            "responses": {
                "200": _json(
                    {
                        "type": "object",
                        "properties": {
                            "executions": {"type": "array", "items": _ref("ExecutionSummary")},
                            "next_cursor": {"type": "string", "nullable": True},
                        },
                    },
                    "one page",
                ),
                "422": _error("bad filter, limit or cursor"),
            },
        }
    },
    "/api/v2/executions/{execution_id}": {
        "get": {
            "summary": "The state of one execution (the shape of noetl_pg.get_state)",
            "parameters": [EXECUTION_ID],
            "responses": {
                "200": _json(_ref("ExecutionState"), "its state"),
                "404": _error("no such execution"),
            },
        }
    },
    "/api/v2/executions/{execution_id}/events": {
        "get": {
            "summary": "The event log of one execution, in the order it is applied",
            "parameters": [
                EXECUTION_ID,
                _query(
                    "after",
                    {"type": "integer", "minimum": 0, "default": 0},
                    "only events with a larger event_id (next_after of the previous page)",
                ),
                _query(
                    "limit",
                    {"type": "integer", "minimum": 1, "maximum": 1000, "default": 100},
                    "page size",
                ),
            ],
            "responses": {
                "200": _json(
                    {
                        "type": "object",
                        "properties": {
                            "execution_id": {"type": "string"},
                            "events": {"type": "array", "items": _ref("Event")},
                            "next_after": {"type": "integer", "nullable": True},
                        },
                    },
                    "one page",
                ),
                "404": _error("no such execution"),
            },
        }
    },
    "/api/v2/executions/{execution_id}/commands": {
        "get": {
            "summary": "The commands of one execution (its rows of noetl.queue), oldest first",
            "parameters": [EXECUTION_ID],
            "responses": {
                "200": _json(
                    {
                        "type": "object",
                        "properties": {
                            "execution_id": {"type": "string"},
                            "commands": {"type": "array", "items": {"type": "object"}},
                        },
                    },
                    "queue_id, step, tool_kind, status, attempt, max_attempts, run_key,"
                    " assigned_worker_id, timestamps, last_error, tool_config, args",
                ),
                "404": _error("no such execution"),
            },
        }
    },
    "/api/v2/queue": {
        "get": {
            "summary": "Queue depth: commands per status and the age of the oldest of each",
            "responses": {
                "200": _json(
                    {
                        "type": "object",
                        "properties": {
                            "commands": {
                                "type": "object",
                                "additionalProperties": {"type": "integer"},
                            },
                            "oldest_seconds": {
                                "type": "object",
                                "additionalProperties": {"type": "number"},
                            },
                        },
                    },
                    "e.g. {commands: {pending: 3, leased: 2}, oldest_seconds: {pending: 0.4}}",
                ),
            },
        }
    },
    "/api/v2/executions/{execution_id}/cancel": {
        "post": {
            "summary": "Stop an execution (a workflow.cancel event)",
            "parameters": [EXECUTION_ID, WAIT, IDEMPOTENCY_KEY],
            "requestBody": {
                "required": False,
                "content": {
                    "application/json": {
                        "schema": {"type": "object", "properties": {"reason": {"type": "string"}}}
                    }
                },
            },
            "responses": EVENT_ANSWERS
            | {"404": _error("no such execution"), "409": _error("the execution already finished")},
        }
    },
    "/openapi.json": {
        "get": {
            "summary": "This description",
            "responses": {"200": {"description": "OpenAPI 3 document"}},
        }
    },
    "/docs": {
        "get": {
            "summary": "A page rendering this description",
            "responses": {"200": {"description": "HTML"}},
        }
    },
    "/metrics": {
        "get": {
            "summary": "Prometheus metrics (docs/observability.md)",
            "responses": {"200": {"description": "Prometheus text exposition format"}},
        }
    },
    "/ui": {
        "get": {
            "summary": "The web console and its pages below /ui/ (docs/console.md)",
            "responses": {"200": {"description": "HTML"}},
        }
    },
}


def openapi_document() -> dict[str, Any]:
    from importlib.metadata import PackageNotFoundError, version

    try:
        package_version = version("noetl-pg")
    except PackageNotFoundError:
        package_version = "0"
    return {
        "openapi": "3.0.3",
        "info": {
            "title": "noetl-pg gateway",
            "version": package_version,
            "description": (
                "The HTTP API of noetl-pg. Every error is "
                '`{"error": {"code", "message", "details"}}`. When the gateway has an API '
                "token, every endpoint except health needs `Authorization: Bearer <token>`."
            ),
        },
        "paths": PATHS,
        "components": {
            "schemas": SCHEMAS,
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
        },
        "security": [{"bearer": []}],
    }


async def openapi_json(request: Request) -> Json:
    return Json(openapi_document())


DOCS_PAGE = """<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>noetl-pg gateway API</title>
<link rel="stylesheet" href="https://cdn.jsdelivr.net/npm/swagger-ui-dist@5/swagger-ui.css">
<style>body{{font-family:sans-serif;margin:0}} #plain{{margin:1em 2em}}
#plain code{{background:#f4f4f4;padding:0 .3em}}</style>
</head>
<body>
<div id="swagger-ui"></div>
<noscript><div id="plain"><h1>noetl-pg gateway API</h1><ul>{listing}</ul>
<p>The full description is <a href="/openapi.json">/openapi.json</a>.</p></div></noscript>
<script src="https://cdn.jsdelivr.net/npm/swagger-ui-dist@5/swagger-ui-bundle.js"></script>
<script>
const spec = {spec};
if (window.SwaggerUIBundle) {{
  SwaggerUIBundle({{spec: spec, dom_id: "#swagger-ui"}});
}} else {{
  document.getElementById("swagger-ui").innerHTML =
    "<div id='plain'><h1>noetl-pg gateway API</h1><ul>{listing_js}</ul></div>";
}}
</script>
</body>
</html>
"""


def _listing() -> str:
    items = []
    for path, operations in PATHS.items():
        for method, operation in operations.items():
            items.append(
                f"<li><code>{method.upper()} {html.escape(path)}</code> — "
                f"{html.escape(operation['summary'])}</li>"
            )
    return "".join(items)


async def docs(request: Request) -> HTMLResponse:
    # The description is inlined so the page works behind bearer auth, where the
    # browser could not fetch /openapi.json by itself.
    spec = json.dumps(openapi_document()).replace("</", "<\\/")
    listing = _listing()
    listing_js = json.dumps(listing)[1:-1].replace("</", "<\\/")
    return HTMLResponse(DOCS_PAGE.format(spec=spec, listing=listing, listing_js=listing_js))
