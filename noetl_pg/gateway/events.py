"""`POST /api/v2/events` and `POST /api/v2/executions/{id}/cancel`.

The request is read and checked here; the event is written by `store/control.py` (the
only code that writes client events) under the request's `Idempotency-Key`
(`store/idempotency.py`), then awaited until an engine has applied it or `wait` passes.
The store's refusals are answered by `gateway/errors.py`.
"""

from __future__ import annotations

from typing import Any

from psycopg import AsyncConnection
from starlette.requests import Request

from noetl_pg.gateway.errors import ApiError
from noetl_pg.gateway.models import EVENT_MODELS, CallDoneIn, CancelIn, StartIn
from noetl_pg.gateway.requests import query_seconds, read_json_object, validate
from noetl_pg.gateway.responses import Json
from noetl_pg.protocol import CLIENT_EVENTS, ENGINE_EVENTS, EventName
from noetl_pg.protocol.client import (
    CallDoneEvent,
    CancelEvent,
    CancelPayload,
    ClientEvent,
    StartEvent,
    StartPayload,
)
from noetl_pg.store.control import Accepted, ClientEvents
from noetl_pg.store.idempotency import Answer, answer_once, request_fingerprint

DEFAULT_WAIT = 5.0
MAX_WAIT = 60.0
MAX_KEY_LENGTH = 255
ACCEPTED, PROCESSED = "accepted", "processed"  # the `status` of an answer to an event


async def post_event(request: Request) -> Json:
    wait = query_seconds(request, "wait", DEFAULT_WAIT, maximum=MAX_WAIT)
    key = idempotency_key(request)
    data = await read_json_object(request)
    event = validate_client_event(data)
    return await submit(request, event, key=key, wait=wait, data=data)


async def cancel_execution(request: Request) -> Json:
    wait = query_seconds(request, "wait", DEFAULT_WAIT, maximum=MAX_WAIT)
    key = idempotency_key(request)
    data = await read_json_object(request, allow_empty=True)
    event = CancelEvent(
        execution_id=request.path_params["execution_id"], payload=validate(CancelPayload, data)
    )
    return await submit(request, event, key=key, wait=wait, data=data)


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


def _in_order(names: frozenset[EventName]) -> list[str]:
    return [str(name) for name in EventName if name in names]


def check_event_name(name: Any) -> None:
    """Refuse, before anything else, a name that clients may not write."""
    if not isinstance(name, str) or name in CLIENT_EVENTS:
        return  # a missing or mistyped name is reported by the model
    allowed = _in_order(CLIENT_EVENTS)
    if name in ENGINE_EVENTS:
        message = f"event {name!r} is written by the engine only; clients may send {allowed}"
    else:
        message = f"unknown event name {name!r}; clients may send {allowed}"
    raise ApiError(422, "unknown_event", message, {"name": name, "allowed": allowed})


def validate_client_event(data: dict[str, Any]) -> ClientEvent:
    """The request body as the typed client event it describes (422 naming the field)."""
    name = data.get("name")
    check_event_name(name)
    if not isinstance(name, str):
        problem = "Field required" if name is None else "must be a string"
        raise ApiError(
            422,
            "invalid_body",
            f"invalid request body: name: {problem}",
            {"problems": [{"field": "name", "message": problem}]},
        )
    event = validate(EVENT_MODELS[name], data)
    if isinstance(event, StartIn):
        return _start_event(event)
    if isinstance(event, CancelIn):
        payload = event.payload or CancelPayload()
        return CancelEvent(execution_id=event.execution_id, payload=payload)
    assert isinstance(event, CallDoneIn)
    return CallDoneEvent(
        execution_id=event.execution_id,
        queue_id=event.queue_id,
        worker_id=event.worker_id,
        attempt=event.attempt,
        payload=event.payload,
    )


def _start_event(event: StartIn) -> StartEvent:
    """Fold `path`/`version`/`workload` given at the top level into the payload."""
    payload = event.payload.model_dump(exclude_none=True) if event.payload else {}
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
    return StartEvent(execution_id=event.execution_id, payload=validate(StartPayload, payload))


async def submit(
    request: Request, event: ClientEvent, *, key: str | None, wait: float, data: dict[str, Any]
) -> Json:
    async def written(conn: AsyncConnection) -> Answer:
        return accepted(await ClientEvents(conn).write(event))

    async def settle(answer: Answer) -> Answer:
        return await await_processing(request, answer, wait)

    fingerprint = request_fingerprint(request.url.path, data)
    answer, replayed = await answer_once(request.app.state.pool, key, fingerprint, written, settle)
    headers = {"Idempotent-Replayed": "true"} if replayed else None
    return Json(answer.body, status_code=answer.status, headers=headers)


def accepted(event: Accepted) -> Answer:
    body = {"status": ACCEPTED, "event_id": event.event_id, "execution_id": event.execution_id}
    return Answer(body, 202)


async def await_processing(request: Request, answer: Answer, wait: float) -> Answer:
    """An accepted event's answer once an engine has applied it (or as it was, when none
    did within `wait` seconds); any other answer as it is."""
    if answer.status != 202 or answer.body.get("status") != ACCEPTED:
        return answer
    event = Accepted(answer.body["event_id"], answer.body["execution_id"])
    applied = await request.app.state.waiter.wait(event, wait)
    if applied is None:
        return answer
    body: dict[str, Any] = {
        "status": PROCESSED,
        "event_id": event.event_id,
        "execution_id": event.execution_id,
        "commands_generated": applied.commands_generated,
    }
    if applied.error is not None:
        body["error"] = applied.error
    return Answer(body, 200)
