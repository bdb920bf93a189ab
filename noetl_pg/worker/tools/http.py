"""`http`: one request through the worker's shared httpx client.

Response `{status, headers, data}`; `data` is the parsed JSON body when it parses (or
the content type says JSON), else text. A non-2xx status is error kind `http_status`
(with `status` and the body as `data`), a transport failure `transport`, a timeout
`timeout`.
"""

from __future__ import annotations

import json
from typing import Any

import httpx

from noetl_pg.worker.tools.base import ToolContext, ToolError

DEFAULT_TIMEOUT = 30.0
_FORM = "application/x-www-form-urlencoded"


async def run(config: dict[str, Any], args: dict[str, Any], ctx: ToolContext) -> Any:
    url = config.get("endpoint") or config.get("url")
    if not url or not isinstance(url, str):
        raise ToolError("config", "http tool needs `endpoint` (or `url`) as a string")
    method = str(config.get("method") or "GET").upper()
    headers = {str(k): _text(v) for k, v in (config.get("headers") or {}).items()}
    request: dict[str, Any] = {
        "headers": headers,
        "params": config.get("params") or None,
        "timeout": _timeout(config, ctx),
        "auth": _auth(config.get("auth"), headers),
    }
    request.update(_body(config, headers))
    try:
        response = await ctx.resources.http.request(method, url, **request)
    except httpx.TimeoutException as exc:
        raise ToolError(
            "timeout", f"{method} {url} timed out ({type(exc).__name__})", url=url
        ) from None
    except httpx.HTTPError as exc:
        raise ToolError("transport", f"{method} {url} failed: {exc}", url=url) from None
    data = _data(response)
    if not response.is_success:
        raise ToolError(
            "http_status",
            f"{method} {url} returned HTTP {response.status_code} {response.reason_phrase}",
            status=response.status_code,
            data=data,
        )
    return {"status": response.status_code, "headers": _headers(response), "data": data}


def _text(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value)


def _timeout(config: dict[str, Any], ctx: ToolContext) -> float:
    timeout = config.get("timeout") or ctx.timeout_seconds or DEFAULT_TIMEOUT
    try:
        return float(timeout)
    except (TypeError, ValueError):
        raise ToolError("config", f"http `timeout` must be a number, not {timeout!r}") from None


def _auth(auth: Any, headers: dict[str, str]) -> httpx.Auth | None:
    if not auth:
        return None
    if not isinstance(auth, dict):
        raise ToolError("config", "http `auth` must be a mapping with a `type`")
    kind = str(auth.get("type", "")).lower()
    if kind == "bearer":
        headers["Authorization"] = f"Bearer {auth.get('token', '')}"
        return None
    if kind == "basic":
        return httpx.BasicAuth(str(auth.get("username", "")), str(auth.get("password", "")))
    raise ToolError("config", f"http `auth.type` must be bearer or basic, not {kind!r}")


def _body(config: dict[str, Any], headers: dict[str, str]) -> dict[str, Any]:
    if config.get("json") is not None:
        return {"json": config["json"]}
    data = config.get("data")
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
