"""`POST /api/v2/events` and `POST /api/v2/executions/{id}/cancel`.

The request is read and checked here; the event is written by `store/control.py` (the
only code that writes client events) under the request's `Idempotency-Key`
(`store/idempotency.py`), then awaited until an engine has applied it or `wait` passes.
The store's refusals are answered by `gateway/errors.py`.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from psycopg import AsyncConnection
from starlette.requests import Request

from noetl_pg.gateway.errors import ApiError
from noetl_pg.gateway.models import CallDonePayload, CancelPayload, EventIn, StartPayload
from noetl_pg.gateway.requests import query_seconds, read_json_object, validate
from noetl_pg.gateway.responses import Json
from noetl_pg.protocol import CLIENT_EVENTS, ENGINE_EVENTS, EventName, Lease
from noetl_pg.store.control import Accepted, ClientEvents
from noetl_pg.store.idempotency import Answer, answer_once, request_fingerprint

DEFAULT_WAIT = 5.0
MAX_WAIT = 60.0
MAX_KEY_LENGTH = 255
ACCEPTED, PROCESSED = "accepted", "processed"  # the `status` of an answer to an event

# Writes one event through the store, inside the caller's transaction.
Write = Callable[[ClientEvents], Awaitable[Accepted]]


async def post_event(request: Request) -> Json:
    wait = query_seconds(request, "wait", DEFAULT_WAIT, maximum=MAX_WAIT)
    key = idempotency_key(request)
    data = await read_json_object(request)
    check_event_name(data.get("name"))
    write = plan_insert(validate(EventIn, data))
    return await submit(request, write, key=key, wait=wait, data=data)


async def cancel_execution(request: Request) -> Json:
    wait = query_seconds(request, "wait", DEFAULT_WAIT, maximum=MAX_WAIT)
    key = idempotency_key(request)
    data = await read_json_object(request, allow_empty=True)
    body = validate(CancelPayload, data)
    event = validate(
        EventIn,
        {
            "name": EventName.WORKFLOW_CANCEL,
            "execution_id": request.path_params["execution_id"],
            "payload": body.model_dump(exclude_none=True),
        },
    )
    return await submit(request, plan_insert(event), key=key, wait=wait, data=data)


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


def plan_insert(event: EventIn) -> Write:
    """Check the fields that fit the event's name; the store call that writes it."""
    if event.name == EventName.WORKFLOW_START:
        return _plan_start(event)
    if event.name == EventName.WORKFLOW_CANCEL:
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


def _missing_fields(message: str, missing: list[str]) -> ApiError:
    return ApiError(
        422,
        "invalid_body",
        message,
        {"problems": [{"field": name, "message": "Field required"} for name in missing]},
    )


def _plan_start(event: EventIn) -> Write:
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
        raise _missing_fields(
            "workflow.start needs the playbook path (payload.path, or path at the top level)",
            ["payload.path"],
        )
    extra = validate(StartPayload, payload).model_dump(exclude_none=True)
    path = extra.pop("path")
    version = extra.pop("version", None)
    workload = extra.pop("workload", None)

    def write(events: ClientEvents) -> Awaitable[Accepted]:
        return events.start_execution(
            path, version=version, workload=workload, execution_id=event.execution_id, extra=extra
        )

    return write


def _plan_cancel(event: EventIn) -> Write:
    _refuse_fields(event, ("path", "version", "workload", "queue_id", "worker_id", "attempt"))
    execution_id = event.execution_id
    if execution_id is None:
        raise _missing_fields(
            "workflow.cancel needs the execution_id of the execution to stop", ["execution_id"]
        )
    reason = validate(CancelPayload, event.payload or {}).reason

    def write(events: ClientEvents) -> Awaitable[Accepted]:
        return events.cancel_execution(execution_id, reason)

    return write


def _plan_call_done(event: EventIn) -> Write:
    _refuse_fields(event, ("path", "version", "workload"))
    missing = [
        name for name in ("queue_id", "worker_id", "attempt") if getattr(event, name) is None
    ]
    if missing:
        raise _missing_fields(
            "call.done from an external worker must name the command it holds: "
            f"missing {', '.join(missing)}",
            missing,
        )
    payload = validate(CallDonePayload, event.payload or {}).model_dump(exclude_unset=True)
    assert event.queue_id is not None and event.worker_id is not None
    assert event.attempt is not None
    lease = Lease(event.queue_id, event.worker_id, event.attempt)

    def write(events: ClientEvents) -> Awaitable[Accepted]:
        return events.report_call_done(lease, payload, execution_id=event.execution_id)

    return write


async def submit(
    request: Request, write: Write, *, key: str | None, wait: float, data: dict[str, Any]
) -> Json:
    async def written(conn: AsyncConnection) -> Answer:
        return accepted(await write(ClientEvents(conn)))

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
