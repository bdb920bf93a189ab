"""The tool kinds, one module each: every public module here defines `KIND`.

The registry is read from the package itself, so a new kind is one new module (plus its
tests and docs); the DSL's and the worker's union of config models is built from it
(`noetl_pg.protocol.tools`).
"""

from __future__ import annotations

import importlib
import pkgutil
from typing import Any

from noetl_pg.worker.tool import ToolKind


def _discover() -> dict[str, ToolKind[Any, Any]]:
    kinds: dict[str, ToolKind[Any, Any]] = {}
    for module_info in pkgutil.iter_modules(__path__):
        if module_info.name.startswith("_"):
            continue  # a helper of some kind, not a kind
        module = importlib.import_module(f"{__name__}.{module_info.name}")
        kind = getattr(module, "KIND", None)
        if not isinstance(kind, ToolKind):
            raise ImportError(f"{module.__name__} is a tool kind module but defines no KIND")
        if kind.name != module_info.name:
            raise ImportError(f"{module.__name__} defines kind {kind.name!r}, not its own name")
        kinds[kind.name] = kind
    return dict(sorted(kinds.items()))


KINDS: dict[str, ToolKind[Any, Any]] = _discover()

__all__ = ["KINDS"]
