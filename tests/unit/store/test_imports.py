"""`store/` is what touches PostgreSQL and nothing else: it never imports the DSL."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import noetl_pg.store

STORE = Path(noetl_pg.store.__file__).resolve().parent
FORBIDDEN = "noetl_pg.dsl"


def imported_modules(source: str) -> list[tuple[int, str]]:
    """(line, module) of every import in `source`, at any depth (lazy imports too)."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found.extend((node.lineno, alias.name) for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.append((node.lineno, node.module))
            found.extend((node.lineno, f"{node.module}.{alias.name}") for alias in node.names)
    return found


def dsl_imports(source: str) -> list[str]:
    return [
        f"line {line}: {module}"
        for line, module in imported_modules(source)
        if module == FORBIDDEN or module.startswith(FORBIDDEN + ".")
    ]


def store_modules() -> list[Path]:
    return sorted(STORE.rglob("*.py"))


def test_there_are_store_modules_to_check():
    names = {path.name for path in store_modules()}
    assert {"control.py", "catalog.py", "idempotency.py"} <= names


@pytest.mark.parametrize("path", store_modules(), ids=lambda path: path.name)
def test_no_store_module_imports_the_dsl(path):
    assert dsl_imports(path.read_text()) == [], f"{path} imports {FORBIDDEN}"


@pytest.mark.parametrize(
    "source",
    [
        "from noetl_pg.dsl import parse_playbook",
        "import noetl_pg.dsl.parser",
        "def f():\n    from noetl_pg.dsl.models import Playbook\n",
        "from noetl_pg import dsl",
    ],
)
def test_the_check_sees_every_way_to_import_the_dsl(source):
    assert dsl_imports(source)


def test_the_check_lets_other_imports_pass():
    assert dsl_imports("from noetl_pg.protocol import EventName\nimport noetl_pg.dslx") == []
