"""`Idempotency-Key`: a request written once, however often it is retried.

The first request with a key claims it in the same transaction as its write, so a retry
or a concurrent duplicate gets the first answer and never a second row; a refused write
rolls its claim back and leaves the key unused. A key remembers a fingerprint of the
request that first used it: the same key on another request is refused (migration 004).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from psycopg import AsyncConnection
from psycopg.types.json import Jsonb
from psycopg_pool import AsyncConnectionPool

from noetl_pg.store.access import DataAccess
from noetl_pg.store.errors import IdempotencyKeyReused


@dataclass(frozen=True)
class Answer:
    """What a request was answered, as a retry with its key will be answered again."""

    body: dict[str, Any]
    status: int


# Writes inside the caller's transaction and says what to answer.
Write = Callable[[AsyncConnection], Awaitable[Answer]]
# Turns a first answer into the current one (an event accepted then, applied since).
Settle = Callable[[Answer], Awaitable[Answer]]


def request_fingerprint(target: str, data: Any) -> str:
    """What makes two requests the same request: where they went and what they said
    (JSON with its keys in any order)."""
    canonical = json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=True)
    return hashlib.sha256(f"{target}\n{canonical}".encode()).hexdigest()


class IdempotencyKeys(DataAccess):
    async def claim(self, key: str, fingerprint: str) -> bool:
        """True if this request is the first with `key` (call inside the write's
        transaction: a concurrent duplicate waits here until the first commits)."""
        params = {"key": key, "request_hash": fingerprint}
        return await self._fetch_one("claim_idempotency_key", params) is not None

    async def remember(self, key: str, answer: Answer) -> None:
        await self._execute(
            "save_idempotent_answer",
            {"key": key, "response": Jsonb(answer.body), "status_code": answer.status},
        )

    async def first_answer(self, key: str, fingerprint: str) -> Answer:
        """The answer of the request that claimed `key`; `IdempotencyKeyReused` when that
        was another request. Keys stored before fingerprints existed match any request."""
        row = await self._fetch_one("find_idempotent_answer", {"key": key})
        assert row is not None  # the key was taken, and keys are never deleted
        if row["request_hash"] not in (None, fingerprint):
            raise IdempotencyKeyReused(key)
        return Answer(row["response"], row["status_code"])


async def answer_once(
    pool: AsyncConnectionPool, key: str | None, fingerprint: str, write: Write, settle: Settle
) -> tuple[Answer, bool]:
    """Run `write` unless a request with `key` ran it already; then `settle` the answer.

    Returns the answer and whether it was replayed. Without a key, every call writes.
    A settled answer that differs from the stored one replaces it, so later retries get
    the answer as it is now.
    """
    async with pool.connection() as conn, conn.transaction():
        keys = IdempotencyKeys(conn)
        first = key is None or await keys.claim(key, fingerprint)
        if first:
            answer = await write(conn)
            if key is not None:
                await keys.remember(key, answer)
        else:
            assert key is not None
            answer = await keys.first_answer(key, fingerprint)
    settled = await settle(answer)
    if key is not None and settled != answer:
        async with pool.connection() as conn:
            await IdempotencyKeys(conn).remember(key, settled)
    return settled, not first
