"""Registering a playbook: parse and validate it (`dsl/`), then store the version (`store/`).

The one place that joins the two, so the store never needs to know what a playbook means;
the gateway's register endpoint and `noetl-pg register` / `run` both come through here.
"""

from __future__ import annotations

import asyncio
from typing import Any

from psycopg import AsyncConnection

from noetl_pg.dsl import parse_playbook
from noetl_pg.store.catalog import PlaybookCatalog, Registered


async def register_playbook(
    conn: AsyncConnection, text: str, source: str = "<string>"
) -> Registered:
    """Validate and store a playbook; identical text returns the existing version.

    Raises `PlaybookError` (with every problem, located in `source`) when the text is not
    a valid playbook; nothing is stored then. Parsing runs in a thread: a large playbook
    must not stall the gateway's event loop.
    """
    version = await asyncio.to_thread(_catalog_entry, text, source)
    return await PlaybookCatalog(conn).store_version(**version, text=text)


def _catalog_entry(text: str, source: str) -> dict[str, Any]:
    """What the catalog stores of a valid playbook, besides its text."""
    playbook = parse_playbook(text, source=source)
    return {
        "path": playbook.metadata.path,
        "name": playbook.metadata.name,
        "label": playbook.metadata.version,
        "spec": playbook.model_dump(mode="json", by_alias=True),
    }
