"""The playbook catalog: store versions of playbooks, read them back.

The store does not know what a playbook means: the caller parses and validates the text
(`noetl_pg.registration`) and hands over the parsed spec with the text it came from.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any

from psycopg.types.json import Jsonb

from noetl_pg.store.access import DataAccess, Row


@dataclass(frozen=True)
class Registered:
    path: str
    version: int
    name: str
    created: bool  # False when an identical text was already registered


def content_hash(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


class PlaybookCatalog(DataAccess):
    async def store_version(
        self, *, path: str, name: str, label: str | None, text: str, spec: dict[str, Any]
    ) -> Registered:
        """Store `text` as the next version of `path`; an identical text registered
        before returns its existing version instead."""
        digest = content_hash(text)
        async with self.conn.transaction():
            await self._execute("lock_playbook_path", {"path": path})
            row = await self._fetch_one(
                "find_playbook_by_hash", {"path": path, "content_hash": digest}
            )
            if row:
                return Registered(row["path"], row["version"], row["name"], created=False)
            row = await self._fetch_one(
                "insert_playbook_version",
                {
                    "path": path,
                    "name": name,
                    "label": label,
                    "yaml": text,
                    "spec": Jsonb(spec),
                    "content_hash": digest,
                },
            )
        assert row is not None  # INSERT ... RETURNING always returns the row
        return Registered(row["path"], row["version"], row["name"], created=True)

    async def playbook(self, path: str, version: int | None = None) -> Row | None:
        """One version of a playbook (the latest when `version` is None), or None."""
        return await self._fetch_one("get_playbook_version", {"path": path, "version": version})

    async def has_playbook(self, path: str, version: int | None = None) -> bool:
        params = {"path": path, "version": version}
        return bool(await self._fetch_value("playbook_registered", "registered", params))

    async def latest_playbooks(self) -> list[Row]:
        """The latest version of every path."""
        return await self._fetch_all("list_playbooks")
