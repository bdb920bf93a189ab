"""`/api/v2/workers/*`: the queue for remote workers (`noetl-worker --gateway URL`).

Each endpoint is the HTTP form of one `CommandQueue` call (store/queue.py), fenced on the
lease exactly as a worker on SQL is: a worker whose lease was taken back records nothing
(`event_id: null`, `held: false`, a queue_id missing from `queue_ids`). `lease` long-polls:
it leases at once when work is ready, else waits on the gateway's own LISTEN of the queue
channel (never a sleep loop) up to `wait` seconds. Only a token with the `work`
capability (worker or admin) may call these (gateway/auth.py).
"""

from __future__ import annotations

import json
import time

import psycopg
from starlette.requests import Request

from noetl_pg.gateway.errors import ApiError
from noetl_pg.gateway.requests import read_json_object, validate
from noetl_pg.gateway.responses import Json
from noetl_pg.protocol.lease import (
    ChildRequest,
    LeasedCommand,
    LeaseReply,
    LeaseRequest,
    LeasesRequest,
    ReportRequest,
    WaitRequest,
)
from noetl_pg.store.notifier import Notifier
from noetl_pg.store.queue import CommandQueue
from noetl_pg.worker.report import max_result_bytes_from_env

QUEUE_CHANNEL = "noetl_queue"  # NOTIFY'd when a command becomes pending (sql/001_schema.sql)
_IDLE_FLOOR = 0.05
# A report carries a result up to the worker's limit: allow that much besides the envelope.
REPORT_ENVELOPE_BYTES = 64 * 1024


def queue_listener(dsn: str) -> Notifier:
    """The one LISTEN every long-poll of this gateway waits on."""
    return Notifier(dsn, QUEUE_CHANNEL, name="noetl-gateway")


def _queue(request: Request, worker_id: str) -> CommandQueue:
    return CommandQueue(request.app.state.pool, worker_id)


async def post_lease(request: Request) -> Json:
    body = validate(LeaseRequest, await read_json_object(request))
    queue = _queue(request, body.worker_id)
    listener: Notifier = request.app.state.queue_listener
    deadline = time.monotonic() + body.wait
    while True:
        seen = listener.generation  # before looking, so no NOTIFY falls in between
        rows = await queue.lease_commands(body.max, body.lease_seconds)
        left = deadline - time.monotonic()
        if rows or left <= 0:
            break
        delay = await queue.next_available_delay()
        if delay is not None:
            left = min(left, max(delay, _IDLE_FLOOR))
        await listener.changed_since(seen, left)
    commands = [LeasedCommand.model_validate(row) for row in rows]
    if commands and await request.is_disconnected():
        # The worker gave up on this poll (it is stopping): nobody will run these.
        await queue.release(command.lease for command in commands)
        commands = []
    return Json(LeaseReply(commands=commands).model_dump(mode="json"))


async def post_heartbeat(request: Request) -> Json:
    body = validate(LeasesRequest, await read_json_object(request))
    leases = [ref.lease() for ref in body.leases]
    held = await _queue(request, "").heartbeat(leases, body.lease_seconds)
    return Json({"queue_ids": sorted(held)})


async def post_release(request: Request) -> Json:
    body = validate(LeasesRequest, await read_json_object(request))
    released = await _queue(request, "").release(ref.lease() for ref in body.leases)
    return Json({"queue_ids": sorted(released)})


async def post_report(request: Request) -> Json:
    limit = max(request.app.state.max_body_bytes, max_result_bytes_from_env())
    body = validate(
        ReportRequest, await read_json_object(request, limit=limit + REPORT_ENVELOPE_BYTES)
    )
    lease = body.lease.lease()
    try:
        event_id = await _queue(request, lease.worker_id).report(
            lease,
            ok=body.ok,
            payload_json=json.dumps(body.payload, allow_nan=False),
            last_error=body.last_error,
        )
    except psycopg.DataError as exc:
        raise ApiError(
            422, "result_not_storable", f"PostgreSQL refused the call.done payload: {exc}"
        ) from None
    return Json({"event_id": event_id})


async def post_child(request: Request) -> Json:
    body = validate(ChildRequest, await read_json_object(request))
    lease = body.lease.lease()
    started = await _queue(request, lease.worker_id).start_child_playbook(
        lease, body.child_execution_id, body.payload
    )
    return Json({"held": started.held, "event_id": started.event_id})


async def post_wait(request: Request) -> Json:
    body = validate(WaitRequest, await read_json_object(request))
    lease = body.lease.lease()
    parked = await _queue(request, lease.worker_id).park_wait(
        lease, signal=body.signal, after=body.after, until=body.until
    )
    return Json({"parked": parked})
