"""No import cycles anywhere in `noetl_pg/`.

Two checks: the import graph read from the source (`ast`; every import counts, those
under `if TYPE_CHECKING:` too, so a cycle cannot hide there — except the body of a
module-level `__getattr__` (PEP 562), which runs when an attribute is first asked for,
never while the module is imported), which names the cycle; and
every module imported first in a fresh set of `noetl_pg` modules, which proves the order
Python really takes works (a cycle that Python cannot resolve fails with ImportError).
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = "noetl_pg"


def _modules() -> dict[str, Path]:
    modules = {}
    for path in sorted((ROOT / PACKAGE).rglob("*.py")):
        parts = list(path.relative_to(ROOT).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        modules[".".join(parts)] = path
    return modules


MODULES = _modules()


def _is_package(name: str) -> bool:
    return MODULES[name].name == "__init__.py"


def _resolve(module: str, node: ast.ImportFrom) -> str:
    if not node.level:
        return node.module or ""
    base = module.split(".")
    if not _is_package(module):
        base.pop()
    base = base[: len(base) - (node.level - 1)]
    return ".".join([*base, *([node.module] if node.module else [])])


def _imported(module: str) -> set[str]:
    """The project modules `module` imports while it runs (and the packages it enters)."""
    tree = ast.parse(MODULES[module].read_text())
    lazy = {
        id(inner)
        for top in tree.body
        if isinstance(top, ast.FunctionDef) and top.name == "__getattr__"
        for inner in ast.walk(top)
    }
    targets: set[str] = set()
    for node in ast.walk(tree):
        if id(node) in lazy:
            continue
        if isinstance(node, ast.Import):
            targets.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            source = _resolve(module, node)
            targets.add(source)
            targets.update(f"{source}.{alias.name}" for alias in node.names)
    if _is_package(module) and "pkgutil.iter_modules" in MODULES[module].read_text():
        # A registry read from the package itself imports each public module in it.
        targets.update(
            name
            for name in MODULES
            if name.rpartition(".")[0] == module and not name.rpartition(".")[2].startswith("_")
        )
    edges = set()
    ancestors = {".".join(module.split(".")[:n]) for n in range(1, module.count(".") + 1)}
    for target in targets:
        parts = target.split(".")
        for n in range(1, len(parts) + 1):
            entered = ".".join(parts[:n])  # importing a.b.c runs a, then a.b, then a.b.c
            if entered in MODULES and entered not in ancestors and entered != module:
                edges.add(entered)
    return edges


def _find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    path: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        path.append(node)
        for nxt in sorted(graph[node]):
            if state.get(nxt) == 1:
                return [*path[path.index(nxt) :], nxt]
            if nxt not in state and (cycle := visit(nxt)):
                return cycle
        path.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if node not in state and (cycle := visit(node)):
            return cycle
    return None


def test_the_checker_sees_a_cycle():
    assert _find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert _find_cycle({"a": {"b"}, "b": set()}) is None


def test_the_import_graph_has_no_cycle():
    graph = {module: _imported(module) for module in MODULES}
    assert graph["noetl_pg.dsl.models"] >= {"noetl_pg.protocol.tools"}  # the graph is read
    cycle = _find_cycle(graph)
    assert cycle is None, "import cycle: " + " -> ".join(cycle or [])


IMPORT_EACH_FIRST = """
import importlib, sys
failures = []
for name in sys.argv[1:]:
    for loaded in [m for m in sys.modules if m == "noetl_pg" or m.startswith("noetl_pg.")]:
        del sys.modules[loaded]
    try:
        importlib.import_module(name)
    except Exception as exc:
        failures.append(f"{name}: {type(exc).__name__}: {exc}")
print("\\n".join(failures))
"""


def test_every_module_imports_first():
    modules = [name for name in MODULES if not name.endswith("__main__")]
    done = subprocess.run(
        [sys.executable, "-c", IMPORT_EACH_FIRST, *modules],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    assert done.stdout.strip() == ""
