"""What a finished command reports: the call.done payload, checked before it is stored.

Pure functions, no I/O. Secrets used by the command are redacted from whatever goes
out; results over the size limit are refused; a result PostgreSQL's jsonb cannot hold
becomes a clear error rather than a failed report.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from noetl_pg.protocol import ErrorKind

MAX_RESULT_BYTES_ENV = "NOETL_MAX_RESULT_BYTES"
DEFAULT_MAX_RESULT_BYTES = 1024 * 1024
REDACTED = "[secret]"
_MESSAGE_LIMIT = 4000
_LAST_ERROR_LIMIT = 1000


@dataclass(frozen=True)
class CallReport:
    """A finished call as the worker reports it: ready for `report_command`."""

    ok: bool
    payload_json: str  # the call.done payload (before report_command adds run_key etc.)
    last_error: str | None  # for noetl.queue.last_error
    kind: str | None = None  # the error kind, when not ok


def max_result_bytes_from_env(env: Mapping[str, str] = os.environ) -> int:
    raw = env.get(MAX_RESULT_BYTES_ENV)
    if not raw:
        return DEFAULT_MAX_RESULT_BYTES
    try:
        value = int(raw)
    except ValueError:
        raise ValueError(f"{MAX_RESULT_BYTES_ENV} must be a number of bytes, not {raw!r}") from None
    if value <= 0:
        raise ValueError(f"{MAX_RESULT_BYTES_ENV} must be positive, not {value}")
    return value


def success(
    response: Any, duration_ms: int, *, max_bytes: int, secrets: Iterable[str] = ()
) -> CallReport:
    """The payload of a successful call, or the failure that replaces it."""
    payload = redact({"response": response, "duration_ms": duration_ms}, secrets)
    try:
        text = json.dumps(payload, allow_nan=False, ensure_ascii=False)
    except (TypeError, ValueError) as exc:
        return failure(
            {"kind": ErrorKind.RESULT_NOT_JSON, "message": f"the result is not JSON: {exc}"},
            duration_ms,
            max_bytes=max_bytes,
        )
    size = len(text.encode())
    if size > max_bytes:
        return failure(
            {
                "kind": ErrorKind.RESULT_TOO_LARGE,
                "message": f"the result is {size} bytes of JSON, over the limit of"
                f" {max_bytes} bytes ({MAX_RESULT_BYTES_ENV}); it was not stored",
                "size": size,
                "limit": max_bytes,
            },
            duration_ms,
            max_bytes=max_bytes,
        )
    if "\\u0000" in text:
        return failure(
            {
                "kind": ErrorKind.RESULT_NOT_STORABLE,
                "message": "the result contains a NUL character (\\u0000), which"
                " PostgreSQL jsonb cannot store",
            },
            duration_ms,
            max_bytes=max_bytes,
        )
    return CallReport(ok=True, payload_json=text, last_error=None)


def failure(
    error: Mapping[str, Any], duration_ms: int, *, max_bytes: int, secrets: Iterable[str] = ()
) -> CallReport:
    """The payload of a failed call; oversized details are dropped, never the kind."""
    error = redact(dict(error), secrets)
    error.setdefault("kind", ErrorKind.INTERNAL)
    error["message"] = str(error.get("message", ""))
    text = _dumps({"error": error, "duration_ms": duration_ms})
    if len(text.encode()) > max_bytes or "\\u0000" in text:
        kept = {k: v for k, v in error.items() if isinstance(v, int | float | bool) or v is None}
        kept.update(
            kind=error["kind"],
            message=error["message"][:_MESSAGE_LIMIT].replace("\x00", "\ufffd"),
            details_dropped=f"the error details were {len(text.encode())} bytes or not"
            " storable; only the kind, message and scalar fields were kept",
        )
        for key in ("type", "sqlstate"):
            if isinstance(error.get(key), str):
                kept[key] = error[key][:200]
        text = _dumps({"error": kept, "duration_ms": duration_ms})
    last_error = f"{error['kind']}: {error['message']}"[:_LAST_ERROR_LIMIT]
    return CallReport(
        ok=False,
        payload_json=text,
        last_error=last_error.replace("\x00", "\ufffd"),
        kind=error["kind"],
    )


def redact(value: Any, secrets: Iterable[str]) -> Any:
    """`value` with every occurrence of each secret replaced by a marker."""
    secrets = sorted({s for s in secrets if s}, key=len, reverse=True)
    if not secrets:
        return value
    return _redact(value, secrets)


def _redact(value: Any, secrets: list[str]) -> Any:
    if isinstance(value, str):
        for secret in secrets:
            if secret in value:
                value = value.replace(secret, REDACTED)
        return value
    if isinstance(value, Mapping):
        return {_redact(k, secrets): _redact(v, secrets) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_redact(v, secrets) for v in value]
    return value


def _dumps(payload: Any) -> str:
    return json.dumps(_plain(payload), ensure_ascii=False, allow_nan=False)


def _plain(value: Any) -> Any:
    """Error details as plain JSON: odd values become their repr, never a failed dump."""
    if value is None or isinstance(value, bool | int | str):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else repr(value)
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return repr(value)
