"""The CLI's way to a running deployment: the same methods as `DatabaseClient`, over HTTP.

`noetl-pg run --gateway URL` talks only to the gateway: register-playbook, POST an event,
then poll the execution's events and state. `NOETL_API_TOKEN` is sent as a bearer token.
"""

from __future__ import annotations

import os
from datetime import datetime
from typing import Any

import httpx

from noetl_pg.protocol import EventName
from noetl_pg.store.catalog import Registered


class GatewayError(Exception):
    """The gateway refused a request, or could not be reached; the message says which."""


class GatewayClient:
    def __init__(self, url: str, token: str | None = None, timeout: float = 30.0) -> None:
        self.url = url.rstrip("/")
        token = token if token is not None else os.environ.get("NOETL_API_TOKEN") or None
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        self._http = httpx.AsyncClient(base_url=self.url, headers=headers, timeout=timeout)

    async def __aenter__(self) -> GatewayClient:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self._http.aclose()

    async def register(self, text: str, source: str) -> Registered:
        response = await self._request(
            "POST", "/api/v2/engine/register-playbook", json={"playbook_yaml": text}
        )
        if response.status_code == 422:
            raise _playbook_error(response, source)
        body = _body(response)
        return Registered(body["path"], body["version"], body["name"], body["created"])

    async def start(
        self,
        path: str,
        version: int | None,
        workload: dict[str, Any],
        execution_id: str | None = None,
    ) -> str:
        event: dict[str, Any] = {
            "name": EventName.WORKFLOW_START,
            "path": path,
            "workload": workload,
        }
        if version is not None:
            event["version"] = version
        if execution_id is not None:
            event["execution_id"] = execution_id
        response = await self._request("POST", "/api/v2/events", params={"wait": 0}, json=event)
        return _body(response)["execution_id"]

    async def cancel(self, execution_id: str, reason: str | None = None) -> None:
        body = {"reason": reason} if reason else {}
        response = await self._request(
            "POST", f"/api/v2/executions/{execution_id}/cancel", params={"wait": 0}, json=body
        )
        _body(response)

    async def state(self, execution_id: str) -> dict[str, Any] | None:
        response = await self._request("GET", f"/api/v2/executions/{execution_id}")
        if response.status_code == 404:
            return None
        return _body(response)

    async def events(self, execution_id: str, after: int = 0, limit: int = 1000) -> list[dict]:
        response = await self._request(
            "GET",
            f"/api/v2/executions/{execution_id}/events",
            params={"after": after, "limit": limit},
        )
        if response.status_code == 404:
            return []  # not applied yet: the start event is still on its way
        rows = _body(response)["events"]
        for row in rows:
            for name in ("created_at", "processed_at"):
                if isinstance(row.get(name), str):
                    row[name] = datetime.fromisoformat(row[name])
        return rows

    async def _request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        try:
            return await self._http.request(method, path, **kwargs)
        except httpx.HTTPError as exc:
            raise GatewayError(f"gateway {self.url}: {exc.__class__.__name__}: {exc}") from None


def _body(response: httpx.Response) -> dict[str, Any]:
    try:
        body = response.json()
    except ValueError:
        body = None
    if response.is_success and isinstance(body, dict):
        return body
    if isinstance(body, dict) and isinstance(body.get("error"), dict):
        message = body["error"].get("message") or body["error"].get("code")
    else:
        message = response.text[:200] or response.reason_phrase
    raise GatewayError(f"gateway answered {response.status_code}: {message}")


def _playbook_error(response: httpx.Response, source: str) -> Exception:
    """The gateway's 422 as a `PlaybookError` when it lists the problems."""
    try:
        details = response.json()["error"]["details"]
        problems = details["problems"]
    except (ValueError, KeyError, TypeError):
        return GatewayError(f"gateway refused the playbook: {response.text[:300]}")
    lines = []
    for problem in problems:
        where = ":".join(str(problem[k]) for k in ("line", "column") if problem.get(k))
        field = ".".join(str(problem[k]) for k in ("step", "field") if problem.get(k))
        lines.append(
            f"{source}{':' + where if where else ''}: {field + ': ' if field else ''}"
            f"{problem.get('message')}"
        )
    return GatewayError("\n".join(lines) or "the gateway refused the playbook")
