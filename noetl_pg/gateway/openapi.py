"""`/openapi.json`, generated from the route table and the pydantic models, and `/docs`,
Swagger UI served from the `swagger-ui-py` package (no CDN: it works offline)."""

from __future__ import annotations

import html
import json
from importlib.metadata import PackageNotFoundError, version
from importlib.resources import files
from typing import Any

from pydantic import BaseModel, TypeAdapter
from starlette.requests import Request
from starlette.responses import HTMLResponse
from starlette.staticfiles import StaticFiles

from noetl_pg.gateway.answers import Error
from noetl_pg.gateway.responses import Json
from noetl_pg.gateway.route_table import Endpoint

REF = "#/components/schemas/{model}"
# PostgreSQL stores no NUL character, so no text the gateway reads may hold one.
NO_NUL = "^[^\\x00]*$"
STORABLE = "StorableValue"
STORABLE_VALUE = {
    "description": "any JSON value whose strings (and keys) hold no NUL character",
    "anyOf": [
        {"type": "string", "pattern": NO_NUL},
        {"type": ["number", "boolean", "null"]},
        {"type": "array", "items": {"$ref": REF.format(model=STORABLE)}},
        {
            "type": "object",
            "propertyNames": {"pattern": NO_NUL},
            "additionalProperties": {"$ref": REF.format(model=STORABLE)},
        },
    ],
}
ASSETS_PATH = "/docs/assets"
UNAUTHORIZED = "missing, unknown or revoked bearer token"
FORBIDDEN = "the token's role does not allow this (docs/security.md)"
TOKEN_UNCHECKED = "the database is not reachable to check the token"


def document_path(path: str) -> str:
    """A Starlette path as OpenAPI writes it: `{path:path}` is `{path}`."""
    return path.replace(":path}", "}")


def storable(schema: Any) -> Any:
    """A request schema that also says what PostgreSQL refuses: NUL in any text."""
    if isinstance(schema, list):
        return [storable(item) for item in schema]
    if not isinstance(schema, dict):
        return schema
    if not schema or set(schema) <= {"title", "description", "default"}:  # any value
        return {**schema, "$ref": REF.format(model=STORABLE)}
    out = {key: storable(value) for key, value in schema.items()}
    if out.get("type") == "string" and "pattern" not in out and "const" not in out:
        out["pattern"] = NO_NUL
    if out.get("type") == "object":
        out["propertyNames"] = {"pattern": NO_NUL}
        if out.get("additionalProperties", True) is True:
            out["additionalProperties"] = {"$ref": REF.format(model=STORABLE)}
    return out


class _Schemas:
    """Collects the components while operations refer to them."""

    def __init__(self) -> None:
        self.components: dict[str, Any] = {}

    def of(self, schema: Any, mode: str) -> dict[str, Any]:
        if isinstance(schema, dict):
            return storable(schema) if mode == "validation" else schema
        generated = TypeAdapter(schema).json_schema(ref_template=REF, mode=mode)
        defs = generated.pop("$defs", {})
        if mode == "validation":
            generated, defs = storable(generated), storable(defs)
            self.components[STORABLE] = STORABLE_VALUE
        self.components.update(defs)
        if isinstance(schema, type) and issubclass(schema, BaseModel):
            self.components[schema.__name__] = generated
            return {"$ref": REF.format(model=schema.__name__)}
        return generated


def _operation(endpoint: Endpoint, schemas: _Schemas) -> dict[str, Any]:
    operation: dict[str, Any] = {"summary": endpoint.summary, "responses": {}}
    if endpoint.params:
        operation["parameters"] = [
            {
                "name": p.name,
                "in": p.where,
                "required": p.required,
                "schema": schemas.of(p.schema, "validation"),
                "description": p.description,
            }
            for p in endpoint.params
        ]
    if endpoint.body is not None:
        content = {"application/json": {"schema": schemas.of(endpoint.body, "validation")}}
        content |= {media: {"schema": s} for media, s in endpoint.other_bodies.items()}
        operation["requestBody"] = {"required": endpoint.body_required, "content": content}
    replies = dict(endpoint.replies)
    if endpoint.public:
        operation["security"] = []
    for status in sorted(replies):
        reply = replies[status]
        answer: dict[str, Any] = {"description": reply.description}
        if reply.body is not None:
            answer["content"] = {
                reply.media_type: {"schema": schemas.of(reply.body, "serialization")}
            }
        if reply.headers:
            answer["headers"] = {
                name: {"description": text, "schema": {"type": "string"}}
                for name, text in reply.headers.items()
            }
        operation["responses"][str(status)] = answer
    if not endpoint.public:
        error = {"application/json": {"schema": schemas.of(Error, "serialization")}}
        responses = operation["responses"]
        responses["401"] = {
            "description": UNAUTHORIZED,
            "content": error,
            "headers": {"WWW-Authenticate": {"schema": {"type": "string"}}},
        }
        responses["403"] = {"description": FORBIDDEN, "content": error}
        responses.setdefault("503", {"description": TOKEN_UNCHECKED, "content": error})
    return operation


def openapi_document(endpoints: list[Endpoint]) -> dict[str, Any]:
    schemas = _Schemas()
    paths: dict[str, dict[str, Any]] = {}
    for endpoint in endpoints:
        operations = paths.setdefault(document_path(endpoint.path), {})
        operations[endpoint.method.lower()] = _operation(endpoint, schemas)
    try:
        package_version = version("noetl-pg")
    except PackageNotFoundError:
        package_version = "0"
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "noetl-pg gateway",
            "version": package_version,
            "description": (
                "The HTTP API of noetl-pg. Every error is "
                '`{"error": {"code", "message", "details"}}`. When the gateway has an API '
                "token, every endpoint except health needs `Authorization: Bearer <token>`."
            ),
        },
        "paths": paths,
        "components": {
            "schemas": dict(sorted(schemas.components.items())),
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
        },
        "security": [{"bearer": []}],
    }


async def openapi_json(request: Request) -> Json:
    return Json(request.app.state.openapi)


def assets() -> StaticFiles:
    """Swagger UI's files, as the swagger-ui-py package ships them."""
    return StaticFiles(directory=str(files("swagger_ui") / "static"))


DOCS_PAGE = """<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>noetl-pg gateway API</title>
<link rel="stylesheet" href="{assets}/swagger-ui.css">
</head>
<body>
<div id="swagger-ui"></div>
<noscript><h1>noetl-pg gateway API</h1><ul>{listing}</ul></noscript>
<script src="{assets}/swagger-ui-bundle.js"></script>
<script>
SwaggerUIBundle({{spec: {spec}, dom_id: "#swagger-ui"}});
</script>
</body>
</html>
"""


async def docs(request: Request) -> HTMLResponse:
    # The description is inlined so the page works behind bearer auth, where the
    # browser could not fetch /openapi.json by itself.
    document = request.app.state.openapi
    spec = json.dumps(document).replace("</", "<\\/")
    listing = "".join(
        f"<li><code>{method.upper()} {html.escape(path)}</code> — "
        f"{html.escape(operation['summary'])}</li>"
        for path, operations in document["paths"].items()
        for method, operation in operations.items()
    )
    return HTMLResponse(DOCS_PAGE.format(assets=ASSETS_PATH, spec=spec, listing=listing))
