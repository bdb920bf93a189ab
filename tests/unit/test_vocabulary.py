"""One vocabulary: outside `noetl_pg/protocol/`, no code compares with an event name or a
status spelled as a bare string; it uses the enums, so a rename or a new status is one
edit. (A config key or a parameter that happens to be called `timeout` is not a status:
only strings being compared, or listed in a comparison, count.)"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

from noetl_pg.protocol import CommandStatus, EventName, ExecutionStatus, StepStatus

PACKAGE = Path(__file__).resolve().parents[2] / "noetl_pg"
WORDS = {m.value for enum in (EventName, ExecutionStatus, StepStatus, CommandStatus) for m in enum}


def _compared(tree: ast.AST) -> Iterator[ast.Constant]:
    """String constants compared with (`==`, `!=`, `in`), directly or inside a literal
    collection; `case` values of a match; and literal lists made only of protocol words."""
    for node in ast.walk(tree):
        if isinstance(node, ast.Compare):
            for side in (node.left, *node.comparators):
                items = side.elts if isinstance(side, ast.List | ast.Tuple | ast.Set) else [side]
                yield from (item for item in items if isinstance(item, ast.Constant))
        elif isinstance(node, ast.MatchValue) and isinstance(node.value, ast.Constant):
            yield node.value
        elif _copied_names(node):
            yield from node.elts  # type: ignore[attr-defined]


def _copied_names(node: ast.AST) -> bool:
    """A literal list of two or more names, every one a protocol word: a copy of an enum."""
    return (
        isinstance(node, ast.List | ast.Tuple | ast.Set)
        and len(node.elts) > 1
        and all(isinstance(e, ast.Constant) and e.value in WORDS for e in node.elts)
    )


def bare_vocabulary(root: Path) -> list[str]:
    """`file:line: 'word'` for every compared string constant that is a protocol word."""
    found = []
    for path in sorted(root.rglob("*.py")):
        relative = path.relative_to(root).as_posix()
        if relative.startswith("protocol/"):
            continue
        tree = ast.parse(path.read_text(), filename=str(path))
        for node in _compared(tree):
            if isinstance(node.value, str) and node.value in WORDS:
                found.append(f"{relative}:{node.lineno}: {node.value!r}")
    return found


def test_no_bare_event_names_or_statuses_outside_protocol():
    assert bare_vocabulary(PACKAGE) == []


def test_the_scan_finds_a_bare_status(tmp_path):
    (tmp_path / "engine.py").write_text(
        'def done(row):\n    return row["status"] == "leased" or row["x"] in ("failed", 1)\n'
    )
    (tmp_path / "ok.py").write_text(
        '"""completed"""\nfrom x import CommandStatus\nCONFIG = {"timeout": "done"}\n'
    )
    (tmp_path / "copy.py").write_text('ENDINGS = ("workflow.complete", "workflow.failed")\n')
    assert bare_vocabulary(tmp_path) == [
        "copy.py:1: 'workflow.complete'",
        "copy.py:1: 'workflow.failed'",
        "engine.py:2: 'leased'",
        "engine.py:2: 'failed'",
    ]
