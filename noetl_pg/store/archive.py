"""Archive finished executions to compressed JSON lines, and restore them for inspection.

One line per execution: `{"execution": row, "events": [rows], "commands": [rows]}`, the
rows as `to_jsonb` writes them, so a restore puts back exactly what was there (ids too).
"""

from __future__ import annotations

import gzip
import json
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from psycopg.types.json import Jsonb

from noetl_pg.store.db import connect
from noetl_pg.store.queries import query


@dataclass
class Counts:
    executions: int = 0
    events: int = 0
    commands: int = 0

    def add(self, executions: int, events: int, commands: int) -> None:
        self.executions += executions
        self.events += events
        self.commands += commands

    def __str__(self) -> str:
        return f"{self.executions} executions, {self.events} events, {self.commands} commands"


def archive(dsn: str, before: datetime, target: Path) -> Counts:
    """Write every execution finished before `before` to `target` (gzip JSON lines)."""
    counts = Counts()
    with (
        connect(dsn, application_name="noetl-pg-archive") as conn,
        conn.cursor(name="noetl_archive") as cursor,
        gzip.open(target, "wt", encoding="utf-8") as out,
    ):
        cursor.execute(query("archive_executions"), {"before": before})
        for row in cursor:
            out.write(json.dumps(row, separators=(",", ":")) + "\n")
            counts.add(1, len(row["events"]), len(row["commands"]))
    return counts


def restore(dsn: str, source: Path) -> Counts:
    """Insert the archived executions of `source` back, in one transaction. Rows still
    present are kept as they are. The event triggers are off meanwhile, so events keep
    their ids and wake nobody (they were applied long ago); that takes a short exclusive
    lock on noetl.event, which is why a restore is meant for a quiet moment."""
    counts = Counts()
    with connect(dsn, application_name="noetl-pg-restore") as conn, conn.transaction():
        conn.execute("ALTER TABLE noetl.event DISABLE TRIGGER USER")
        with gzip.open(source, "rt", encoding="utf-8") as lines:
            for line in lines:
                item = json.loads(line)
                params = {key: Jsonb(item[key]) for key in ("execution", "events", "commands")}
                row = conn.execute(query("restore_execution"), params).fetchone()
                counts.add(row["executions"], row["events"], row["commands"])
        conn.execute("ALTER TABLE noetl.event ENABLE TRIGGER USER")
    return counts
