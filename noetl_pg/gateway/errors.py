"""Every error the API answers has one shape: `{"error": {"code", "message", "details"}}`."""

from __future__ import annotations

import logging
from typing import Any

import psycopg
import psycopg_pool
from pydantic import ValidationError
from starlette.exceptions import HTTPException
from starlette.requests import Request

from noetl_pg.gateway.responses import Json
from noetl_pg.store import errors as store

log = logging.getLogger(__name__)


class ApiError(Exception):
    """An answer other than success, raised once where the problem is found."""

    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        details: Any = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.details = details if details is not None else {}
        self.headers = headers

    def body(self) -> dict[str, Any]:
        return error_body(self.code, self.message, self.details)


def error_body(code: str, message: str, details: Any = None) -> dict[str, Any]:
    return {"error": {"code": code, "message": message, "details": details or {}}}


def error_response(
    status: int, code: str, message: str, details: Any = None, headers: dict[str, str] | None = None
) -> Json:
    return Json(error_body(code, message, details), status_code=status, headers=headers)


def validation_problems(exc: ValidationError) -> list[dict[str, Any]]:
    """Pydantic's errors as `{field, message, type}`, the field as a dotted path."""
    return [
        {
            "field": ".".join(str(part) for part in error["loc"]) or None,
            "message": error["msg"],
            "type": error["type"],
        }
        for error in exc.errors(include_url=False, include_input=False)
    ]


def invalid_body(exc: ValidationError) -> ApiError:
    problems = validation_problems(exc)
    summary = "; ".join(
        f"{p['field']}: {p['message']}" if p["field"] else p["message"] for p in problems
    )
    return ApiError(422, "invalid_body", f"invalid request body: {summary}", {"problems": problems})


_HTTP_CODES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    409: "conflict",
    413: "body_too_large",
    415: "unsupported_media_type",
    422: "invalid_body",
}


async def handle_api_error(request: Request, exc: Exception) -> Json:
    assert isinstance(exc, ApiError)
    return Json(exc.body(), status_code=exc.status, headers=exc.headers)


# How each refusal of the store is answered (the most specific class listed wins).
STORE_REFUSALS: dict[type[store.StoreError], tuple[int, str]] = {
    store.PlaybookNotFound: (404, "playbook_not_found"),
    store.ExecutionNotFound: (404, "execution_not_found"),
    store.ExecutionExists: (409, "execution_exists"),
    store.ExecutionFinished: (409, "execution_finished"),
    store.NotRerunnable: (409, "not_rerunnable"),
    store.NothingToRerun: (422, "nothing_to_rerun"),
    store.LeaseNotHeld: (409, "lease_not_held"),
    store.CommandOfAnotherExecution: (422, "invalid_body"),
    store.IdempotencyKeyReused: (409, "idempotency_key_reused"),
    store.Draining: (503, "draining"),
}


async def handle_store_error(request: Request, exc: Exception) -> Json:
    assert isinstance(exc, store.StoreError)
    refusal = next((STORE_REFUSALS[c] for c in type(exc).__mro__ if c in STORE_REFUSALS), None)
    if refusal is None:  # a refusal without an answer here is a bug of the gateway
        return await handle_unexpected(request, exc)
    status, code = refusal
    return error_response(status, code, exc.message, exc.details)


async def handle_http_exception(request: Request, exc: Exception) -> Json:
    assert isinstance(exc, HTTPException)
    code = _HTTP_CODES.get(exc.status_code, "http_error")
    message = exc.detail if isinstance(exc.detail, str) else str(exc.detail)
    if exc.status_code == 404:
        message = f"no such endpoint: {request.method} {request.url.path}"
    elif exc.status_code == 405:
        message = f"method {request.method} is not allowed on {request.url.path}"
    return error_response(exc.status_code, code, message, headers=exc.headers)


async def handle_operational_error(request: Request, exc: Exception) -> Json:
    """psycopg's OperationalError covers both a lost server and a value past a limit."""
    sqlstate = getattr(exc, "sqlstate", None)
    if sqlstate and sqlstate.startswith("54"):  # program_limit_exceeded: e.g. a huge key
        return await handle_unstorable_value(request, exc)
    if sqlstate and not sqlstate.startswith(("08", "53", "57")):
        return await handle_unexpected(request, exc)
    return await handle_database_unavailable(request, exc)


async def handle_database_unavailable(request: Request, exc: Exception) -> Json:
    log.warning("database unavailable during %s %s: %s", request.method, request.url.path, exc)
    return error_response(
        503,
        "database_unavailable",
        "the database is not reachable; retry later",
        {"reason": type(exc).__name__},
        headers={"Retry-After": "1"},
    )


async def handle_unstorable_value(request: Request, exc: Exception) -> Json:
    # Input that passed validation but that PostgreSQL refuses (a NUL byte in a path, a
    # number out of range): the client's to fix, so 422, never a 500.
    reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    log.info(
        "value refused by PostgreSQL during %s %s: %s", request.method, request.url.path, reason
    )
    return error_response(
        422, "invalid_value", f"a value cannot be stored or compared: {reason}", {}
    )


async def handle_unexpected(request: Request, exc: Exception) -> Json:
    log.exception("unexpected error during %s %s", request.method, request.url.path)
    return error_response(
        500, "internal_error", "internal error; the gateway log has the details", {}
    )


EXCEPTION_HANDLERS = {
    ApiError: handle_api_error,
    store.StoreError: handle_store_error,
    HTTPException: handle_http_exception,
    psycopg.OperationalError: handle_operational_error,
    psycopg_pool.PoolTimeout: handle_database_unavailable,
    psycopg.DataError: handle_unstorable_value,
    Exception: handle_unexpected,
}
