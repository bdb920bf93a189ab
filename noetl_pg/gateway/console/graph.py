"""A playbook's steps as a graph of `next` edges, drawn server-side as SVG: one box per
step in workflow order, an arrow per edge."""

from __future__ import annotations

from html import escape
from typing import Any

BOX_W, BOX_H, GAP = 180, 28, 22


def edges(spec: dict[str, Any]) -> list[tuple[str, str]]:
    found = []
    for step in spec.get("workflow") or []:
        for target in _targets(step.get("next")):
            found.append((step["step"], target))
    return found


def _targets(value: Any) -> list[str]:
    if value is None:
        return []
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        if "step" in value:
            return [value["step"]]
        return [t for key in ("arcs", "then", "else") for t in _targets(value.get(key))]
    if isinstance(value, list):
        return [t for item in value for t in _targets(item)]
    return []


def svg(spec: dict[str, Any]) -> str:
    names = [step["step"] for step in spec.get("workflow") or [] if "step" in step]
    row = {name: index for index, name in enumerate(names)}
    height = len(names) * (BOX_H + GAP) + GAP
    parts = [
        f'<svg class="graph" xmlns="http://www.w3.org/2000/svg" width="{BOX_W + 200}"'
        f' height="{height}" role="img" aria-label="steps graph">'
        '<defs><marker id="arrow" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="6"'
        ' markerHeight="6" orient="auto"><path d="M0,0 L10,5 L0,10 z"/></marker></defs>'
    ]
    for source, target in edges(spec):
        if source not in row or target not in row:
            continue
        y1 = GAP + row[source] * (BOX_H + GAP) + BOX_H
        y2 = GAP + row[target] * (BOX_H + GAP)
        if row[target] == row[source] + 1:
            parts.append(
                f'<line x1="{BOX_W / 2 + 10}" y1="{y1}" x2="{BOX_W / 2 + 10}"'
                f' y2="{y2}" marker-end="url(#arrow)"/>'
            )
        else:
            bend = BOX_W + 30 + 12 * abs(row[target] - row[source])
            parts.append(
                f'<path d="M{BOX_W + 10},{y1 - BOX_H / 2} C{bend},{y1 - BOX_H / 2}'
                f' {bend},{y2 + BOX_H / 2} {BOX_W + 10},{y2 + BOX_H / 2}" fill="none"'
                ' marker-end="url(#arrow)"/>'
            )
    for name, index in row.items():
        y = GAP + index * (BOX_H + GAP)
        parts.append(
            f'<g class="node"><rect x="10" y="{y}" width="{BOX_W}" height="{BOX_H}" rx="4"/>'
            f'<text x="20" y="{y + 18}">{escape(name)}</text></g>'
        )
    parts.append("</svg>")
    return "".join(parts)
