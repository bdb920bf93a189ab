"""Load YAML keeping where every value came from (1-based line and column)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import yaml

Path = tuple[str | int, ...]


@dataclass(frozen=True, slots=True)
class Position:
    line: int
    column: int


@dataclass
class LocatedDocument:
    """The loaded data and, for each path into it, where its key and its value start."""

    data: Any
    keys: dict[Path, Position] = field(default_factory=dict)
    values: dict[Path, Position] = field(default_factory=dict)
    block_scalars: set[Path] = field(default_factory=set)
    duplicate_keys: list[tuple[Path, Position, Position]] = field(default_factory=list)
    lines: list[str] = field(default_factory=list)

    def first_column(self, line: int) -> int:
        """The 1-based column of the first non-blank character of a 1-based line."""
        if 1 <= line <= len(self.lines):
            text = self.lines[line - 1]
            return len(text) - len(text.lstrip()) + 1
        return 1

    def where(self, path: Path) -> Position:
        """Where the entry at `path` starts (its key), or the nearest enclosing entry."""
        for end in range(len(path), -1, -1):
            prefix = path[:end]
            if prefix in self.keys:
                return self.keys[prefix]
            if prefix in self.values:
                return self.values[prefix]
        return Position(1, 1)

    def where_value(self, path: Path) -> Position:
        """Where the value at `path` starts (the text of a template, for instance)."""
        if path in self.values:
            pos = self.values[path]
            if path in self.block_scalars:
                # `key: |` — the text begins on the next line.
                return Position(pos.line + 1, self.first_column(pos.line + 1))
            return pos
        return self.where(path)


def _pos(mark: yaml.Mark) -> Position:
    return Position(mark.line + 1, mark.column + 1)


def _walk(node: yaml.Node, path: Path, doc: LocatedDocument) -> None:
    doc.values[path] = _pos(node.start_mark)
    if isinstance(node, yaml.ScalarNode):
        if node.style in ("|", ">"):
            doc.block_scalars.add(path)
    elif isinstance(node, yaml.MappingNode):
        seen: dict[str, Position] = {}
        for key_node, value_node in node.value:
            if not isinstance(key_node, yaml.ScalarNode):
                continue
            key = key_node.value
            if key == "<<":
                continue  # merge keys: positions fall back to the enclosing mapping
            child = (*path, key)
            where = _pos(key_node.start_mark)
            if key in seen:
                doc.duplicate_keys.append((child, where, seen[key]))
            seen[key] = where
            doc.keys[child] = where
            _walk(value_node, child, doc)
    elif isinstance(node, yaml.SequenceNode):
        for index, item in enumerate(node.value):
            child = (*path, index)
            doc.keys[child] = _pos(item.start_mark)
            _walk(item, child, doc)


# libyaml's parser keeps the same marks and is ~10x faster on a 3,000-step playbook.
_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def load_located(text: str) -> LocatedDocument:
    """Parse one YAML document; raises yaml.YAMLError (with marks) on bad syntax."""
    try:
        return _load(text, _LOADER)
    except UnicodeEncodeError:
        # libyaml cannot take a lone surrogate; the pure parser names it as a YAMLError.
        return _load(text, yaml.SafeLoader)


def _load(text: str, loader_class: type) -> LocatedDocument:
    loader = loader_class(text)
    try:
        node = loader.get_single_node()
        doc = LocatedDocument(data=None, lines=text.splitlines())
        if node is None:
            return doc
        _walk(node, (), doc)
        doc.data = loader.construct_document(node)
        return doc
    finally:
        loader.dispose()
