"""Registering a playbook: parse and validate it (`dsl/`), then store the version (`store/`).

The one place that joins the two, so the store never needs to know what a playbook means;
the gateway's register endpoint and `noetl-pg register` / `run` both come through here.
"""

from __future__ import annotations

from psycopg import AsyncConnection

from noetl_pg.dsl import parse_playbook
from noetl_pg.store.catalog import PlaybookCatalog, Registered


async def register_playbook(
    conn: AsyncConnection, text: str, source: str = "<string>"
) -> Registered:
    """Validate and store a playbook; identical text returns the existing version.

    Raises `PlaybookError` (with every problem, located in `source`) when the text is not
    a valid playbook; nothing is stored then.
    """
    playbook = parse_playbook(text, source=source)
    return await PlaybookCatalog(conn).store_version(
        path=playbook.metadata.path,
        name=playbook.metadata.name,
        label=playbook.metadata.version,
        text=text,
        spec=playbook.model_dump(mode="json", by_alias=True),
    )
