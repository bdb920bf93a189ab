"""The one JSON answer class of the gateway.

It carries database values (timestamps as ISO 8601 strings), and it never fails to encode:
text that is not valid UTF-8 (a lone surrogate quoted from a user's playbook, say) is sent
with JSON's ASCII escapes instead of breaking the answer into a 500.
"""

from __future__ import annotations

import json
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from starlette.responses import JSONResponse


def _encode(value: Any) -> Any:
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return float(value)
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")


class Json(JSONResponse):
    def render(self, content: Any) -> bytes:
        try:
            return _dumps(content, ascii_only=False).encode("utf-8")
        except UnicodeEncodeError:
            return _dumps(content, ascii_only=True).encode("ascii")


def _dumps(content: Any, *, ascii_only: bool) -> str:
    return json.dumps(
        content, ensure_ascii=ascii_only, allow_nan=False, separators=(",", ":"), default=_encode
    )
