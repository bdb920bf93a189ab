"""Bearer-token auth: when a token is configured, every endpoint needs it but the public
ones of the route table (health) and the static assets of /docs."""

from __future__ import annotations

import hmac
from collections.abc import Collection

from starlette.types import ASGIApp, Receive, Scope, Send

from noetl_pg.gateway.errors import error_response


class BearerAuth:
    def __init__(
        self,
        app: ASGIApp,
        token: str | None,
        public: Collection[str] = (),
        public_prefixes: tuple[str, ...] = (),
    ) -> None:
        self.app = app
        self.token = token.encode() if token else None
        self.public = frozenset(public)
        self.public_prefixes = tuple(prefix.rstrip("/") + "/" for prefix in public_prefixes)

    def _is_public(self, path: str) -> bool:
        return path in self.public or path.startswith(self.public_prefixes)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if self.token is None or scope["type"] != "http" or self._is_public(scope["path"]):
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
