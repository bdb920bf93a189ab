"""Bearer-token auth with roles (docs/security.md).

A request presents `Authorization: Bearer <token>`: `NOETL_API_TOKEN` is an admin token;
any other token is looked up in `noetl.api_token` (`noetl-pg token create`). What a role
may do is `protocol/roles.py`'s table; each request needs one capability, read off its
method and path. The public endpoints of the route table (health) and the static assets
of /docs need nothing. With no `NOETL_API_TOKEN` and no live token in the table the gateway is
open (a laptop); creating the first token closes it within `OPEN_CHECK_SECONDS`.

The console (/ui) takes the same token from an HttpOnly cookie its login page sets, and
sends a browser without a good one to that page instead of answering 401.
"""

from __future__ import annotations

import contextlib
import hmac
import time
from collections.abc import AsyncIterator, Collection
from http.cookies import SimpleCookie
from urllib.parse import quote

import psycopg
from psycopg_pool import PoolTimeout
from starlette.responses import RedirectResponse
from starlette.types import ASGIApp, Receive, Scope, Send

from noetl_pg.gateway.errors import error_response
from noetl_pg.protocol.roles import Capability, Role, allows
from noetl_pg.store.tokens import TokenStore

REGISTER_PATHS = frozenset({"/api/v2/engine/register-playbook", "/api/v2/playbooks"})
MANAGE_PATHS = frozenset({"/api/v2/drain"})
WORKER_PREFIX = "/api/v2/workers"
OPEN_CHECK_SECONDS = 1.0
CONSOLE_PREFIX = "/ui"
CONSOLE_PUBLIC = frozenset({"/ui/login"})
CONSOLE_PUBLIC_PREFIXES = ("/ui/static/",)  # the console's CSS and script hold no data
TOKEN_COOKIE = "noetl_token"


def capability_of(method: str, path: str) -> Capability:
    """What a request needs: its endpoint's kind, from method and path."""
    if path.startswith(WORKER_PREFIX):
        return Capability.WORK
    if method in ("GET", "HEAD"):
        return Capability.READ
    if path in REGISTER_PATHS:
        return Capability.REGISTER
    if path in MANAGE_PATHS:
        return Capability.MANAGE
    return Capability.CONTROL


class _Refusal(Exception):
    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


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
        self.public = frozenset(public) | CONSOLE_PUBLIC
        self.public_prefixes = (
            *(prefix.rstrip("/") + "/" for prefix in public_prefixes),
            *CONSOLE_PUBLIC_PREFIXES,
        )
        self._open_until = 0.0  # monotonic time until which "no token exists" holds

    def _is_public(self, path: str) -> bool:
        return path in self.public or path.startswith(self.public_prefixes)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or self._is_public(_route_path(scope)):
            await self.app(scope, receive, send)
            return
        try:
            await self._check(scope)
        except _Refusal as refusal:
            path = _route_path(scope)
            if refusal.status == 401 and _in_console(path):
                login = RedirectResponse(f"/ui/login?next={quote(path)}", status_code=303)
                await login(scope, receive, send)
                return
            headers = {"WWW-Authenticate": 'Bearer realm="noetl"'} if refusal.status == 401 else {}
            response = error_response(
                refusal.status, refusal.code, refusal.message, headers=headers
            )
            await response(scope, receive, send)
            return
        await self.app(scope, receive, send)

    async def _check(self, scope: Scope) -> None:
        presented = _bearer(scope)
        if presented is None and _in_console(_route_path(scope)):
            presented = _cookie(scope)
        if presented is None:
            if await self._is_open(scope):
                return
            raise _Refusal(
                401, "unauthorized", "this endpoint needs an Authorization: Bearer <token> header"
            )
        role = await self._role_of(presented, scope)
        if role is None:
            raise _Refusal(
                401, "unauthorized", "the bearer token is not valid (unknown or revoked)"
            )
        needed = capability_of(scope["method"], _route_path(scope))
        if not allows(role, needed):
            raise _Refusal(
                403,
                "forbidden",
                f"a {role} token cannot {needed} ({scope['method']} {scope['path']})",
            )

    async def _role_of(self, presented: bytes, scope: Scope) -> Role | None:
        async with _connection(scope) as conn:
            return await role_of(presented, self.token, conn)

    async def _is_open(self, scope: Scope) -> bool:
        if self.token is not None:
            return False
        if time.monotonic() < self._open_until:
            return True
        async with _connection(scope) as conn:
            closed = await TokenStore(conn).any_live()
        if not closed:
            self._open_until = time.monotonic() + OPEN_CHECK_SECONDS
        return not closed


async def role_of(
    presented: bytes, admin_token: bytes | None, conn: psycopg.AsyncConnection
) -> Role | None:
    """The role of a presented token: the deployment's admin token, or a stored one."""
    if admin_token is not None and hmac.compare_digest(presented, admin_token):
        return Role.ADMIN
    return await TokenStore(conn).role_of(presented.decode(errors="replace"))


def _in_console(path: str) -> bool:
    return path == CONSOLE_PREFIX or path.startswith(CONSOLE_PREFIX + "/")


def _cookie(scope: Scope) -> bytes | None:
    for name, value in scope["headers"]:
        if name == b"cookie":
            morsel = SimpleCookie(value.decode("latin-1")).get(TOKEN_COOKIE)
            if morsel is not None and morsel.value:
                return morsel.value.encode()
    return None


def _route_path(scope: Scope) -> str:
    """The path inside this app: without the prefix it is mounted under, if any."""
    root, path = scope.get("root_path", ""), scope["path"]
    return path[len(root) :] if root and path.startswith(root) else path


def _bearer(scope: Scope) -> bytes | None:
    header = next((value for name, value in scope["headers"] if name == b"authorization"), b"")
    if not header:
        return None
    scheme, _, presented = header.partition(b" ")
    if scheme.lower() != b"bearer" or not presented.strip():
        raise _Refusal(401, "unauthorized", "the Authorization header must be 'Bearer <token>'")
    return presented.strip()


@contextlib.asynccontextmanager
async def _connection(scope: Scope) -> AsyncIterator[psycopg.AsyncConnection]:
    """A pooled connection for the token check; a database that does not answer is a 503."""
    try:
        async with scope["app"].state.pool.connection() as conn:
            yield conn
    except (psycopg.Error, PoolTimeout) as exc:
        raise _Refusal(503, "database_unavailable", f"cannot check the token: {exc}") from exc
