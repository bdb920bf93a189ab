"""`POST /api/v2/events` and `POST /api/v2/executions/{id}/cancel`.

A client's event is checked, inserted (the insert trigger wakes the engines) and then
awaited until an engine has applied it. With an `Idempotency-Key`, the key is claimed in
the same transaction as the insert, so a retry or a concurrent duplicate gets the first
answer and never a second row.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from psycopg import AsyncConnection
from starlette.requests import Request

from noetl_pg.gateway.errors import ApiError
from noetl_pg.gateway.models import (
    CLIENT_EVENTS,
    ENGINE_EVENTS,
    CallDonePayload,
    CancelPayload,
    EventIn,
    StartPayload,
)
from noetl_pg.gateway.requests import query_seconds, read_json_object, validate
from noetl_pg.gateway.responses import Json
from noetl_pg.store import events as store
from noetl_pg.store.executions import fetch_state_async

DEFAULT_WAIT = 5.0
MAX_WAIT = 60.0
MAX_KEY_LENGTH = 255
FINISHED = ("completed", "failed", "cancelled")

# Inserts one event inside the caller's transaction; returns {event_id, execution_id}.
Insert = Callable[[AsyncConnection], Awaitable[dict[str, Any]]]


@dataclass(frozen=True)
class Answer:
    body: dict[str, Any]
    status: int


def new_execution_id() -> str:
    """Like the table's default: 'exec-' and 32 hex digits."""
    return "exec-" + uuid.uuid4().hex


async def post_event(request: Request) -> Json:
    wait = query_seconds(request, "wait", DEFAULT_WAIT, maximum=MAX_WAIT)
    key = idempotency_key(request)
    data = await read_json_object(request)
    check_event_name(data.get("name"))
    event = validate(EventIn, data)
    insert = plan_insert(event)
    return await submit(request, insert, key=key, wait=wait, fingerprint=fingerprint(request, data))


async def cancel_execution(request: Request) -> Json:
    wait = query_seconds(request, "wait", DEFAULT_WAIT, maximum=MAX_WAIT)
    key = idempotency_key(request)
    data = await read_json_object(request, allow_empty=True)
    body = validate(CancelPayload, data)
    event = validate(
        EventIn,
        {
            "name": "workflow.cancel",
            "execution_id": request.path_params["execution_id"],
            "payload": body.model_dump(exclude_none=True),
        },
    )
    return await submit(
        request, plan_insert(event), key=key, wait=wait, fingerprint=fingerprint(request, data)
    )


def idempotency_key(request: Request) -> str | None:
    key = request.headers.get("idempotency-key")
    if key is None:
        return None
    if not key.strip() or len(key) > MAX_KEY_LENGTH:
        raise ApiError(
            400,
            "bad_request",
            f"Idempotency-Key must be 1 to {MAX_KEY_LENGTH} characters",
            {"header": "Idempotency-Key"},
        )
    return key


def check_event_name(name: Any) -> None:
    """Refuse, before anything else, a name that clients may not write."""
    if not isinstance(name, str) or name in CLIENT_EVENTS:
        return  # a missing or mistyped name is reported by the model
    allowed = list(CLIENT_EVENTS)
    if name in ENGINE_EVENTS:
        message = f"event {name!r} is written by the engine only; clients may send {allowed}"
    else:
        message = f"unknown event name {name!r}; clients may send {allowed}"
    raise ApiError(422, "unknown_event", message, {"name": name, "allowed": allowed})


def plan_insert(event: EventIn) -> Insert:
    if event.name == "workflow.start":
        return _plan_start(event)
    if event.name == "workflow.cancel":
        return _plan_cancel(event)
    return _plan_call_done(event)


def _refuse_fields(event: EventIn, fields: tuple[str, ...]) -> None:
    given = [name for name in fields if getattr(event, name) is not None]
    if given:
        raise ApiError(
            422,
            "invalid_body",
            f"{event.name} does not take {', '.join(given)}",
            {"problems": [{"field": name, "message": "not allowed here"} for name in given]},
        )


def _plan_start(event: EventIn) -> Insert:
    _refuse_fields(event, ("queue_id", "worker_id", "attempt"))
    payload = dict(event.payload or {})
    for name in ("path", "version", "workload"):
        value = getattr(event, name)
        if value is None:
            continue
        if name in payload and payload[name] != value:
            raise ApiError(
                422,
                "invalid_body",
                f"{name} is given both at the top level and in payload, with different values",
                {"problems": [{"field": f"payload.{name}", "message": "conflicts with " + name}]},
            )
        payload[name] = value
    if "path" not in payload:
        raise ApiError(
            422,
            "invalid_body",
            "workflow.start needs the playbook path (payload.path, or path at the top level)",
            {"problems": [{"field": "payload.path", "message": "Field required"}]},
        )
    start = validate(StartPayload, payload)
    payload = start.model_dump(exclude_none=True)
    execution_id = event.execution_id or new_execution_id()

    async def insert(conn: AsyncConnection) -> dict[str, Any]:
        if not await store.playbook_exists(conn, start.path, start.version):
            which = f"{start.path!r}" + (f" version {start.version}" if start.version else "")
            raise ApiError(
                404,
                "playbook_not_found",
                f"no playbook {which} is registered",
                {"path": start.path, "version": start.version},
            )
        await store.lock_execution_id(conn, execution_id)
        if await store.execution_started(conn, execution_id):
            raise ApiError(
                409,
                "execution_exists",
                f"execution {execution_id!r} was already started",
                {"execution_id": execution_id},
            )
        return await store.insert_client_event(
            conn, execution_id=execution_id, name=event.name, step=event.step, payload=payload
        )

    return insert


def _plan_cancel(event: EventIn) -> Insert:
    _refuse_fields(event, ("path", "version", "workload", "queue_id", "worker_id", "attempt"))
    if event.execution_id is None:
        raise ApiError(
            422,
            "invalid_body",
            "workflow.cancel needs the execution_id of the execution to stop",
            {"problems": [{"field": "execution_id", "message": "Field required"}]},
        )
    payload = validate(CancelPayload, event.payload or {}).model_dump(exclude_none=True)
    execution_id = event.execution_id

    async def insert(conn: AsyncConnection) -> dict[str, Any]:
        await store.lock_execution_id(conn, execution_id)
        state = await fetch_state_async(conn, execution_id)
        if state is None:
            raise ApiError(
                404,
                "execution_not_found",
                f"no execution {execution_id!r}",
                {"execution_id": execution_id},
            )
        if state["status"] in FINISHED:
            raise ApiError(
                409,
                "execution_finished",
                f"execution {execution_id!r} is already {state['status']}",
                {"execution_id": execution_id, "status": state["status"]},
            )
        return await store.insert_client_event(
            conn, execution_id=execution_id, name=event.name, step=event.step, payload=payload
        )

    return insert


def _plan_call_done(event: EventIn) -> Insert:
    _refuse_fields(event, ("path", "version", "workload"))
    missing = [
        name for name in ("queue_id", "worker_id", "attempt") if getattr(event, name) is None
    ]
    if missing:
        raise ApiError(
            422,
            "invalid_body",
            "call.done from an external worker must name the command it holds: "
            f"missing {', '.join(missing)}",
            {"problems": [{"field": name, "message": "Field required"} for name in missing]},
        )
    payload = validate(CallDonePayload, event.payload or {}).model_dump(exclude_unset=True)
    assert event.queue_id is not None and event.worker_id is not None
    assert event.attempt is not None
    queue_id, worker_id, attempt = event.queue_id, event.worker_id, event.attempt

    async def insert(conn: AsyncConnection) -> dict[str, Any]:
        row = await store.report_call_done(
            conn, queue_id=queue_id, worker_id=worker_id, attempt=attempt, payload=payload
        )
        if row is None:
            command = await store.describe_command(conn, queue_id)
            raise lease_not_held(queue_id, worker_id, attempt, command)
        if event.execution_id is not None and event.execution_id != row["execution_id"]:
            raise ApiError(  # raising rolls the report back
                422,
                "invalid_body",
                f"command {queue_id} belongs to execution {row['execution_id']!r}, "
                f"not {event.execution_id!r}",
                {"queue_id": queue_id, "execution_id": row["execution_id"]},
            )
        return row

    return insert


def lease_not_held(
    queue_id: int, worker_id: str, attempt: int, command: dict[str, Any] | None
) -> ApiError:
    if command is None:
        return ApiError(409, "lease_not_held", f"no command {queue_id}", {"queue_id": queue_id})
    return ApiError(
        409,
        "lease_not_held",
        f"worker {worker_id!r} (attempt {attempt}) does not hold the lease of command "
        f"{queue_id}; nothing was recorded",
        {
            "queue_id": queue_id,
            "status": command["status"],
            "assigned_worker_id": command["assigned_worker_id"],
            "attempt": command["attempt"],
        },
    )


def fingerprint(request: Request, data: Any) -> str:
    """What makes two requests the same request: where they went and what they said."""
    canonical = json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=True)
    return hashlib.sha256(f"{request.url.path}\n{canonical}".encode()).hexdigest()


async def submit(
    request: Request, insert: Insert, *, key: str | None, wait: float, fingerprint: str
) -> Json:
    pool = request.app.state.pool
    async with pool.connection() as conn, conn.transaction():
        claimed = key is None or await store.claim_idempotency_key(conn, key, fingerprint)
        if claimed:
            row = await insert(conn)
            answer = accepted(row)
            if key is not None:
                await store.save_idempotent_answer(conn, key, answer.body, answer.status)
        else:
            stored = await store.find_idempotent_answer(conn, key)
    if not claimed:
        assert stored is not None  # the key was taken and keys are never deleted here
        if stored["request_hash"] not in (None, fingerprint):
            raise ApiError(
                422,
                "idempotency_key_reused",
                f"Idempotency-Key {key!r} was first used for a different request; a retry"
                " must repeat the request exactly, and a new request needs a new key",
                {"header": "Idempotency-Key"},
            )
        answer = await replay(request, key, Answer(stored["response"], stored["status_code"]), wait)
        return respond(answer, replayed=True)
    final = await await_processing(request, answer, wait)
    if key is not None and final != answer:
        async with pool.connection() as conn:
            await store.save_idempotent_answer(conn, key, final.body, final.status)
    return respond(final, replayed=False)


def accepted(row: dict[str, Any]) -> Answer:
    return Answer(
        {"status": "accepted", "event_id": row["event_id"], "execution_id": row["execution_id"]},
        202,
    )


async def await_processing(request: Request, answer: Answer, wait: float) -> Answer:
    if answer.status != 202 or answer.body.get("status") != "accepted":
        return answer
    event_id, execution_id = answer.body["event_id"], answer.body["execution_id"]
    row = await request.app.state.waiter.wait(event_id, execution_id, wait)
    if row is None:
        return answer
    body: dict[str, Any] = {
        "status": "processed",
        "event_id": event_id,
        "execution_id": execution_id,
        "commands_generated": row["commands_generated"] or 0,
    }
    if row["error"] is not None:
        body["error"] = row["error"]
    return Answer(body, 200)


async def replay(request: Request, key: str, stored: Answer, wait: float) -> Answer:
    """The first request's answer; one that was still 'accepted' is awaited again, since
    the engine may have applied the event since."""
    final = await await_processing(request, stored, wait)
    if final != stored:
        async with request.app.state.pool.connection() as conn:
            await store.save_idempotent_answer(conn, key, final.body, final.status)
    return final


def respond(answer: Answer, *, replayed: bool) -> Json:
    headers = {"Idempotent-Replayed": "true"} if replayed else None
    return Json(answer.body, status_code=answer.status, headers=headers)
