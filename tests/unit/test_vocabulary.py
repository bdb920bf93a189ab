"""One vocabulary: outside `noetl_pg/protocol/`, no code spells an event name or a status as
a bare string; it uses the enums, so a rename or a new status is one edit."""

from __future__ import annotations

import ast
from pathlib import Path

from noetl_pg.protocol import CommandStatus, EventName, ExecutionStatus, StepStatus

PACKAGE = Path(__file__).resolve().parents[2] / "noetl_pg"
WORDS = {m.value for enum in (EventName, ExecutionStatus, StepStatus, CommandStatus) for m in enum}

# (file, word): strings that merely look like a status.
NOT_A_STATUS = {
    ("cli/inspect.py", "running"),  # the label of the `status` row listing running steps
    ("dsl/models.py", "failed"),  # the default message of `fail:` in a playbook
    ("store/queue.py", "failed"),  # a column of the reclaim query's result row
}


def _docstrings(tree: ast.AST) -> set[int]:
    owners = (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)
    return {
        id(node.body[0].value)
        for node in ast.walk(tree)
        if isinstance(node, owners)
        and node.body
        and isinstance(node.body[0], ast.Expr)
        and isinstance(node.body[0].value, ast.Constant)
    }


def bare_vocabulary(root: Path) -> list[str]:
    """`file:line: 'word'` for every string constant that is a protocol word."""
    found = []
    for path in sorted(root.rglob("*.py")):
        relative = path.relative_to(root).as_posix()
        if relative.startswith("protocol/"):
            continue
        tree = ast.parse(path.read_text(), filename=str(path))
        docstrings = _docstrings(tree)
        for node in ast.walk(tree):
            if (
                isinstance(node, ast.Constant)
                and isinstance(node.value, str)
                and node.value in WORDS
                and id(node) not in docstrings
                and (relative, node.value) not in NOT_A_STATUS
            ):
                found.append(f"{relative}:{node.lineno}: {node.value!r}")
    return found


def test_no_bare_event_names_or_statuses_outside_protocol():
    assert bare_vocabulary(PACKAGE) == []


def test_the_scan_finds_a_bare_status(tmp_path):
    (tmp_path / "engine.py").write_text('def done(row):\n    return row["status"] == "leased"\n')
    (tmp_path / "ok.py").write_text('"""completed"""\nfrom x import CommandStatus\n')
    assert bare_vocabulary(tmp_path) == ["engine.py:2: 'leased'"]
