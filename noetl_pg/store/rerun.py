"""Re-run a failed or cancelled execution (DSL.md section 10): a new execution with the
old one's workload, ctx and step results that enters again only the steps that failed
(or `from_step`). The old execution is not changed."""

from __future__ import annotations

import uuid

from psycopg import AsyncConnection
from psycopg.types.json import Jsonb

from noetl_pg.protocol import EventName, ExecutionStatus
from noetl_pg.store.drain import refuse_if_draining
from noetl_pg.store.errors import ExecutionNotFound, NothingToRerun, NotRerunnable
from noetl_pg.store.queries import query

RERUNNABLE = frozenset({ExecutionStatus.FAILED, ExecutionStatus.CANCELLED})


async def rerun(conn: AsyncConnection, execution_id: str, from_step: str | None = None) -> str:
    """Start the re-run; its execution id."""
    await refuse_if_draining(conn)
    cur = await conn.execute(query("rerun_source"), {"execution_id": execution_id})
    old = await cur.fetchone()
    if old is None:
        raise ExecutionNotFound(execution_id)
    if old["status"] not in RERUNNABLE:
        raise NotRerunnable(execution_id, old["status"])
    failed = [f["step"] for f in old["failures"] or [] if f.get("step")]
    steps = [from_step] if from_step else list(dict.fromkeys(failed))
    if not steps:
        raise NothingToRerun(execution_id)
    new_id = f"exec-{uuid.uuid4().hex}"
    payload = {
        "path": old["path"],
        "version": old["version"],
        "workload": old["workload"],
        "rerun_of": execution_id,
        "rerun": {"steps": steps, "ctx": old["context"], "step_results": old["step_results"]},
    }
    await conn.execute(
        query("insert_client_event"),
        {
            "execution_id": new_id,
            "name": EventName.WORKFLOW_START,
            "step": None,
            "payload": Jsonb(payload),
        },
    )
    return new_id
