"""Reading request input: bounded bodies, JSON objects, query parameters."""

from __future__ import annotations

import json
import re
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError
from starlette.requests import Request

from noetl_pg.gateway.errors import ApiError, invalid_body

Model = TypeVar("Model", bound=BaseModel)

JSON_TYPES = ("application/json",)
# What a query parameter documented as an integer or a number may look like (JSON's
# notation: no spaces, underscores or other digits than 0-9, which Python would take).
INTEGER = re.compile(r"-?[0-9]+")
NUMBER = re.compile(r"-?[0-9]+(\.[0-9]+)?([eE][-+]?[0-9]+)?")
YAML_TYPES = ("application/yaml", "application/x-yaml", "text/yaml", "text/x-yaml")


def media_type(request: Request) -> str:
    return request.headers.get("content-type", "").split(";")[0].strip().lower()


async def read_body(request: Request, limit: int | None = None) -> bytes:
    """The raw body, refused with 413 as soon as it is longer than the configured limit
    (or `limit`, for an endpoint that carries more)."""
    limit = limit or request.app.state.max_body_bytes
    declared = request.headers.get("content-length")
    if declared is not None:
        try:
            declared_length = int(declared)
        except ValueError:
            raise ApiError(400, "bad_request", "Content-Length is not a number") from None
        if declared_length > limit:
            raise _too_large(limit)
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise _too_large(limit)
        chunks.append(chunk)
    return b"".join(chunks)


def _too_large(limit: int) -> ApiError:
    return ApiError(
        413,
        "body_too_large",
        f"request body is larger than the limit of {limit} bytes",
        {"max_body_bytes": limit},
    )


def _is_json(kind: str) -> bool:
    return kind in JSON_TYPES or kind.endswith("+json")


async def read_json_object(
    request: Request, *, allow_empty: bool = False, limit: int | None = None
) -> dict[str, Any]:
    """The body as a JSON object: 415 for another media type, 400 for malformed JSON,
    422 for JSON that is not an object."""
    body = await read_body(request, limit)
    if not body.strip():
        if allow_empty:
            return {}
        raise ApiError(400, "bad_request", "request body is empty; send a JSON object")
    kind = media_type(request)
    if kind and not _is_json(kind):
        raise ApiError(
            415,
            "unsupported_media_type",
            f"Content-Type {kind!r} is not accepted here; send application/json",
            {"content_type": kind, "accepted": list(JSON_TYPES)},
        )
    return parse_json_object(body)


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def parse_json_object(body: bytes) -> dict[str, Any]:
    try:
        value = json.loads(body, parse_constant=_refuse_constant)
    except UnicodeDecodeError:
        raise ApiError(400, "malformed_json", "request body is not UTF-8 text") from None
    except RecursionError:
        raise ApiError(400, "malformed_json", "request body is nested too deeply") from None
    except json.JSONDecodeError as exc:
        raise ApiError(
            400,
            "malformed_json",
            f"request body is not valid JSON: {exc.msg} at line {exc.lineno} column {exc.colno}",
            {"line": exc.lineno, "column": exc.colno},
        ) from None
    except ValueError as exc:  # NaN, Infinity
        raise ApiError(400, "malformed_json", f"request body is not valid JSON: {exc}") from None
    if not isinstance(value, dict):
        raise ApiError(
            422,
            "invalid_body",
            f"request body must be a JSON object, not {_json_type(value)}",
            {"problems": [{"field": None, "message": "expected a JSON object"}]},
        )
    try:
        _check_storable(value)
    except RecursionError:
        raise ApiError(400, "malformed_json", "request body is nested too deeply") from None
    return value


def _check_storable(value: Any) -> None:
    """Refuse what PostgreSQL cannot store: NUL characters and unpaired surrogates."""
    if isinstance(value, dict):
        for key, item in value.items():
            _check_storable(key)
            _check_storable(item)
    elif isinstance(value, list):
        for item in value:
            _check_storable(item)
    elif isinstance(value, str):
        if "\x00" in value:
            raise _unstorable("a string holds a NUL character (\\u0000)")
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            raise _unstorable("a string holds an unpaired surrogate (\\ud800-\\udfff)") from None


def _unstorable(reason: str) -> ApiError:
    return ApiError(422, "invalid_value", f"request body cannot be stored: {reason}", {})


def _json_type(value: Any) -> str:
    if isinstance(value, list):
        return "an array"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    return "null"


def validate(model: type[Model], data: dict[str, Any]) -> Model:
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise invalid_body(exc) from None


def query_int(
    request: Request, name: str, default: int, *, minimum: int, maximum: int | None = None
) -> int:
    raw = request.query_params.get(name)
    if raw is None:
        return default
    if not INTEGER.fullmatch(raw):
        raise _bad_query(name, raw, "an integer")
    value = int(raw)
    if value < minimum or (maximum is not None and value > maximum):
        bound = f"between {minimum} and {maximum}" if maximum is not None else f">= {minimum}"
        raise _bad_query(name, raw, f"an integer {bound}")
    return value


def query_seconds(request: Request, name: str, default: float, *, maximum: float) -> float:
    raw = request.query_params.get(name)
    if raw is None:
        return default
    if not NUMBER.fullmatch(raw):
        raise _bad_query(name, raw, "a number of seconds")
    value = float(raw)
    if not (0 <= value <= maximum):  # also refuses nan
        raise _bad_query(name, raw, f"a number of seconds between 0 and {maximum:g}")
    return value


def _bad_query(name: str, raw: str, expected: str) -> ApiError:
    return ApiError(
        422,
        "invalid_query",
        f"query parameter {name}={raw!r} must be {expected}",
        {"parameter": name, "value": raw},
    )
