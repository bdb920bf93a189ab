"""The playbook catalog: register versions, read them back."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any

from psycopg import Connection
from psycopg.types.json import Jsonb

from noetl_pg.store.queries import query


@dataclass(frozen=True)
class Registered:
    path: str
    version: int
    name: str
    created: bool  # False when an identical text was already registered


def content_hash(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def register_playbook(conn: Connection, text: str, source: str = "<string>") -> Registered:
    """Validate and store a playbook; identical text returns the existing version.

    Raises `PlaybookError` (with every problem) when the text is not a valid playbook.
    """
    from noetl_pg.dsl import parse_playbook

    playbook = parse_playbook(text, source=source)
    path = playbook.metadata.path
    digest = content_hash(text)
    with conn.transaction():
        conn.execute(query("lock_playbook_path"), {"path": path})
        row = conn.execute(
            query("find_playbook_by_hash"), {"path": path, "content_hash": digest}
        ).fetchone()
        if row:
            return Registered(row["path"], row["version"], row["name"], created=False)
        row = conn.execute(
            query("insert_playbook_version"),
            {
                "path": path,
                "name": playbook.metadata.name,
                "label": playbook.metadata.version,
                "yaml": text,
                "spec": Jsonb(playbook.model_dump(mode="json", by_alias=True)),
                "content_hash": digest,
            },
        ).fetchone()
    return Registered(row["path"], row["version"], row["name"], created=True)


def get_playbook(conn: Connection, path: str, version: int | None = None) -> dict[str, Any] | None:
    return conn.execute(
        query("get_playbook_version"), {"path": path, "version": version}
    ).fetchone()


def list_playbooks(conn: Connection) -> list[dict[str, Any]]:
    return conn.execute(query("list_playbooks")).fetchall()
