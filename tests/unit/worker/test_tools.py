"""Pure parts of the tools: JSON-safe values, child execution ids, the registry."""

from __future__ import annotations

import datetime as dt
import uuid
from decimal import Decimal

from noetl_pg.protocol.tools import KNOWN_TOOL_KINDS, SQL_TEXT_KINDS
from noetl_pg.worker.tool import ToolKind
from noetl_pg.worker.tools import KINDS
from noetl_pg.worker.tools.playbook import child_execution_id
from noetl_pg.worker.tools.postgres import json_safe


def test_the_registry_holds_every_kind_module():
    assert set(KINDS) == {
        "duckdb",
        "http",
        "noop",
        "playbook",
        "postgres",
        "python",
        "wait",
        "workbook",
    }
    assert tuple(KINDS) == KNOWN_TOOL_KINDS
    assert all(isinstance(kind, ToolKind) for kind in KINDS.values())


def test_the_sql_text_kinds_come_from_the_registry():
    assert sorted(SQL_TEXT_KINDS) == ["duckdb", "postgres"]


def test_only_workbook_is_left_to_the_engine():
    assert [name for name, kind in KINDS.items() if kind.run is None] == ["workbook"]


def test_kinds_with_resources():
    assert [name for name, kind in KINDS.items() if kind.resources] == [
        "http",
        "postgres",
        "python",
    ]


def test_json_safe_values():
    assert json_safe(Decimal("1.25")) == 1.25
    assert json_safe(Decimal("10")) == 10
    assert json_safe(Decimal("0.1")) == 0.1
    assert json_safe(Decimal("1.000000000000000000001")) == "1.000000000000000000001"
    assert json_safe(Decimal("NaN")) == "NaN"
    assert json_safe(float("inf")) == "inf"
    assert json_safe(dt.datetime(2024, 1, 2, 3, 4, 5)) == "2024-01-02T03:04:05"
    assert json_safe(dt.date(2024, 2, 29)) == "2024-02-29"
    assert json_safe(b"\x00\xff") == "AP8="
    assert json_safe(uuid.UUID(int=1)) == "00000000-0000-0000-0000-000000000001"
    assert json_safe({"a": [Decimal("2"), None]}) == {"a": [2, None]}


def test_child_execution_id_is_deterministic_per_command():
    first = child_execution_id("exec-1", 7)
    assert first == child_execution_id("exec-1", 7)
    assert first != child_execution_id("exec-1", 8)
    assert first.startswith("exec-") and len(first) == 37
