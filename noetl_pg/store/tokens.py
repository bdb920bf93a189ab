"""API tokens: created and revoked by `noetl-pg token`, checked by the gateway.

A token is `noetl_<id>_<secret>`. The table keeps the id, the role and a SHA-256 of the
secret, never the secret; the gateway looks the id up and compares hashes in constant time.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass

from noetl_pg.protocol.roles import Role
from noetl_pg.store.access import DataAccess, Row

PREFIX = "noetl_"


@dataclass(frozen=True)
class NewToken:
    token_id: str
    role: Role
    token: str  # shown once; only its hash is stored


def secret_hash(secret: str) -> bytes:
    return hashlib.sha256(secret.encode()).digest()


def split_token(token: str) -> tuple[str, str] | None:
    """`(token_id, secret)` of a token of our shape, or None."""
    if not token.startswith(PREFIX):
        return None
    token_id, sep, secret = token[len(PREFIX) :].partition("_")
    return (token_id, secret) if sep and token_id and secret else None


class TokenStore(DataAccess):
    async def create(self, role: Role, name: str = "") -> NewToken:
        token_id = secrets.token_hex(6)
        secret = secrets.token_urlsafe(32)
        await self._fetch_one(
            "create_token",
            {"token_id": token_id, "role": role, "name": name, "secret_hash": secret_hash(secret)},
        )
        return NewToken(token_id, role, f"{PREFIX}{token_id}_{secret}")

    async def revoke(self, token_id: str) -> Row | None:
        return await self._fetch_one("revoke_token", {"token_id": token_id})

    async def tokens(self) -> list[Row]:
        return await self._fetch_all("list_tokens")

    async def role_of(self, token: str) -> Role | None:
        """The role of a live token, or None (unknown shape, unknown id, revoked, wrong secret)."""
        parts = split_token(token)
        if parts is None:
            return None
        row = await self._fetch_one("live_token", {"token_id": parts[0]})
        if row is None or not hmac.compare_digest(bytes(row["secret_hash"]), secret_hash(parts[1])):
            return None
        return Role(row["role"])

    async def any_live(self) -> bool:
        return await self._fetch_value("any_live_token", "any_live", {})
