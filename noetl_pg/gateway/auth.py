"""Bearer-token auth: when a token is configured, every endpoint but health needs it."""

from __future__ import annotations

import hmac

from starlette.types import ASGIApp, Receive, Scope, Send

from noetl_pg.gateway.errors import error_response

PUBLIC_PATHS = frozenset({"/api/v2/health"})


class BearerAuth:
    def __init__(self, app: ASGIApp, token: str | None) -> None:
        self.app = app
        self.token = token.encode() if token else None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if self.token is None or scope["type"] != "http" or scope["path"] in PUBLIC_PATHS:
            await self.app(scope, receive, send)
            return
        problem = self._problem(scope)
        if problem is None:
            await self.app(scope, receive, send)
            return
        response = error_response(
            401, "unauthorized", problem, headers={"WWW-Authenticate": 'Bearer realm="noetl"'}
        )
        await response(scope, receive, send)

    def _problem(self, scope: Scope) -> str | None:
        header = b""
        for name, value in scope["headers"]:
            if name == b"authorization":
                header = value
                break
        if not header:
            return "this endpoint needs an Authorization: Bearer <token> header"
        scheme, _, presented = header.partition(b" ")
        if scheme.lower() != b"bearer" or not presented.strip():
            return "the Authorization header must be 'Bearer <token>'"
        assert self.token is not None
        if not hmac.compare_digest(presented.strip(), self.token):
            return "the bearer token is not valid"
        return None
