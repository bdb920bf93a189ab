"""`http`: one request through the worker's shared httpx client.

Response `{status, headers, data}`; `data` is the parsed JSON body when it parses (or
the content type says JSON), else text. A non-2xx status is error kind `http_status`
(with `status` and the body as `data`), a transport failure `transport`, a timeout
`timeout`.
"""

from __future__ import annotations

import json
from typing import Any, Literal

import httpx
from pydantic import ConfigDict, Field, ValidationInfo, field_validator, model_validator

from noetl_pg.protocol import ErrorKind
from noetl_pg.protocol.tool_config import (
    ConfigPart,
    Seconds,
    Templated,
    ToolConfig,
    has_template,
    rendered,
)
from noetl_pg.worker.tool import ToolContext, ToolError, ToolKind, WorkerSettings

DEFAULT_TIMEOUT = 30.0
HTTP_METHODS = frozenset({"GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"})
_FORM = "application/x-www-form-urlencoded"


class HttpAuth(ConfigPart):
    """`auth: {type: bearer, token}` or `{type: basic, username, password}`."""

    model_config = ConfigDict(coerce_numbers_to_str=True)
    label = "http `auth`"

    type: Templated[Literal["bearer", "basic"]]
    token: str | None = None
    username: str | None = None
    password: str | None = None

    @field_validator("type", mode="before")
    @classmethod
    def _any_case(cls, value: Any) -> Any:
        return value.lower() if isinstance(value, str) and not has_template(value) else value

    @model_validator(mode="after")
    def _credentials(self) -> HttpAuth:
        if self.type == "bearer" and self.token is None:
            raise ValueError("http `auth` of type bearer needs `token`")
        if self.type == "basic" and self.username is None:
            raise ValueError("http `auth` of type basic needs `username` (and `password`)")
        return self


class HttpConfig(ToolConfig):
    kind: Literal["http"] = "http"
    method: str = "GET"
    endpoint: str | None = None
    url: str | None = None  # another name for endpoint
    headers: Templated[dict[str, Any]] | None = None
    params: Templated[dict[str, Any]] | None = None  # the query string
    json_body: Any = Field(default=None, alias="json")
    data: Any = None  # the body: text as it is; a mapping as JSON, or a form (Content-Type)
    timeout: Templated[Seconds] | None = None
    auth: Templated[HttpAuth] | None = None

    @field_validator("method")
    @classmethod
    def _known_method(cls, method: str, info: ValidationInfo) -> str:
        if has_template(method) and not rendered(info):
            return method
        if method.upper() not in HTTP_METHODS:
            raise ValueError(
                f"http tool `method` {method!r} is not one of {', '.join(sorted(HTTP_METHODS))}"
            )
        return method.upper()

    @model_validator(mode="after")
    def _has_endpoint(self) -> HttpConfig:
        if not self.endpoint and not self.url:
            raise ValueError("http tool needs `endpoint` (or `url`)")
        return self


def open_client(settings: WorkerSettings) -> httpx.AsyncClient:
    """One client per worker: its connections are pooled across calls."""
    return httpx.AsyncClient(follow_redirects=True)


async def run(config: HttpConfig, args: dict[str, Any], ctx: ToolContext[httpx.AsyncClient]) -> Any:
    url = str(config.endpoint or config.url)
    method = config.method
    headers = {str(k): _text(v) for k, v in (config.headers or {}).items()}
    request: dict[str, Any] = {
        "headers": headers,
        "params": config.params or None,
        "timeout": config.timeout or ctx.timeout_seconds or DEFAULT_TIMEOUT,
        "auth": _auth(config.auth, headers),
    }
    request.update(_body(config, headers))
    try:
        response = await ctx.resource.request(method, url, **request)
    except httpx.TimeoutException as exc:
        raise ToolError(
            ErrorKind.TIMEOUT, f"{method} {url} timed out ({type(exc).__name__})", url=url
        ) from None
    except httpx.HTTPError as exc:
        raise ToolError(ErrorKind.TRANSPORT, f"{method} {url} failed: {exc}", url=url) from None
    data = _data(response)
    if not response.is_success:
        raise ToolError(
            ErrorKind.HTTP_STATUS,
            f"{method} {url} returned HTTP {response.status_code} {response.reason_phrase}",
            status=response.status_code,
            data=data,
        )
    return {"status": response.status_code, "headers": _headers(response), "data": data}


KIND = ToolKind(config=HttpConfig, run=run, resources=open_client)


def _text(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value)


def _auth(auth: HttpAuth | None, headers: dict[str, str]) -> httpx.Auth | None:
    if auth is None:
        return None
    if auth.type == "bearer":
        headers["Authorization"] = f"Bearer {auth.token}"
        return None
    return httpx.BasicAuth(str(auth.username), auth.password or "")


def _body(config: HttpConfig, headers: dict[str, str]) -> dict[str, Any]:
    if config.json_body is not None:
        return {"json": config.json_body}
    data = config.data
    if data is None:
        return {}
    if isinstance(data, str | bytes):
        return {"content": data}
    content_type = next((v for k, v in headers.items() if k.lower() == "content-type"), "")
    if isinstance(data, dict) and content_type.startswith(_FORM):
        return {"data": {k: _text(v) for k, v in data.items()}}
    return {"json": data}


def _data(response: httpx.Response) -> Any:
    text = response.text
    if not text:
        return None if "json" in response.headers.get("content-type", "") else ""
    try:
        return json.loads(text, parse_constant=_refuse)
    except ValueError:
        return text


def _refuse(constant: str) -> Any:
    raise ValueError(f"{constant} is not JSON a database can store")


def _headers(response: httpx.Response) -> dict[str, str]:
    merged: dict[str, str] = {}
    for name, value in response.headers.multi_items():
        name = name.lower()
        merged[name] = f"{merged[name]}, {value}" if name in merged else value
    return merged
