"""Bearer-token auth: when a token is configured, every endpoint but health needs it.

The console (/ui) takes the same token from an HttpOnly cookie its login page sets, and
sends a browser without it to that page instead of answering 401."""

from __future__ import annotations

import hmac
from http.cookies import SimpleCookie
from urllib.parse import quote

from starlette.responses import RedirectResponse
from starlette.types import ASGIApp, Receive, Scope, Send

from noetl_pg.gateway.errors import error_response

PUBLIC_PATHS = frozenset({"/api/v2/health", "/ui/login"})
PUBLIC_PREFIXES = ("/ui/static/",)  # the console's CSS and script hold no data
CONSOLE_PREFIX = "/ui"
TOKEN_COOKIE = "noetl_token"


class BearerAuth:
    def __init__(self, app: ASGIApp, token: str | None) -> None:
        self.app = app
        self.token = token.encode() if token else None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = scope.get("path", "")
        if (
            self.token is None
            or scope["type"] != "http"
            or path in PUBLIC_PATHS
            or path.startswith(PUBLIC_PREFIXES)
        ):
            await self.app(scope, receive, send)
            return
        if path == CONSOLE_PREFIX or path.startswith(CONSOLE_PREFIX + "/"):
            if self._cookie_valid(scope):
                await self.app(scope, receive, send)
                return
            login = RedirectResponse(f"/ui/login?next={quote(path)}", status_code=303)
            await login(scope, receive, send)
            return
        problem = self._problem(scope)
        if problem is None:
            await self.app(scope, receive, send)
            return
        response = error_response(
            401, "unauthorized", problem, headers={"WWW-Authenticate": 'Bearer realm="noetl"'}
        )
        await response(scope, receive, send)

    def _cookie_valid(self, scope: Scope) -> bool:
        assert self.token is not None
        for name, value in scope["headers"]:
            if name == b"cookie":
                morsel = SimpleCookie(value.decode("latin-1")).get(TOKEN_COOKIE)
                if morsel is not None and hmac.compare_digest(morsel.value.encode(), self.token):
                    return True
        return False

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
