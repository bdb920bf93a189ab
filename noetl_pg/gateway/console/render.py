"""The console's Jinja2 environment (templates shipped in the package)."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path
from typing import Any

from starlette.templating import Jinja2Templates

TEMPLATES = Jinja2Templates(directory=str(Path(__file__).parent / "templates"))


def as_json(value: Any) -> str:
    return json.dumps(value, indent=2, default=str, sort_keys=True)


def as_time(value: datetime | None) -> str:
    return value.strftime("%Y-%m-%d %H:%M:%S") if value else ""


TEMPLATES.env.filters["as_json"] = as_json
TEMPLATES.env.filters["as_time"] = as_time
