"""The record of one endpoint: how it is routed and what the OpenAPI document says of it
(`gateway/endpoints.py` holds the table, `gateway/openapi.py` writes the document)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from noetl_pg.gateway import answers

Handler = Callable[[Request], Awaitable[Response]]
Schema = type[BaseModel] | dict[str, Any] | Any  # a model, a JSON schema, or a type


@dataclass(frozen=True)
class Reply:
    """One documented answer: its description and body (None: no JSON body)."""

    description: str
    body: Schema = answers.Error
    media_type: str = "application/json"
    headers: Mapping[str, str] = field(default_factory=dict)  # name -> description


@dataclass(frozen=True)
class Param:
    name: str
    where: str  # "query", "path" or "header"
    schema: dict[str, Any]
    description: str
    required: bool = False


@dataclass(frozen=True)
class Endpoint:
    method: str
    path: str  # as Starlette routes it ("{path:path}" for a slash-holding parameter)
    handler: Handler
    summary: str
    replies: Mapping[int, Reply]
    body: Schema | None = None  # the JSON request body
    body_required: bool = True
    other_bodies: Mapping[str, dict[str, Any]] = field(default_factory=dict)  # media -> schema
    params: tuple[Param, ...] = ()
    public: bool = False  # answered without the bearer token


def routes_of(endpoints: list[Endpoint]) -> list[BaseRoute]:
    """One route per path, whatever its methods, so a 405 lists every method it has."""
    by_path: dict[str, dict[str, Handler]] = {}
    for e in endpoints:
        by_path.setdefault(e.path, {})[e.method] = e.handler
    return [
        Route(path, _one(handlers), methods=list(handlers)) for path, handlers in by_path.items()
    ]


def _one(handlers: dict[str, Handler]) -> Handler:
    """The handler of a path: its only one, or the one of the request's method."""
    if len(handlers) == 1:
        return next(iter(handlers.values()))

    async def dispatch(request: Request) -> Response:
        method = "GET" if request.method == "HEAD" else request.method
        return await handlers[method](request)

    return dispatch
