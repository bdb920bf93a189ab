"""The execution timeline as server-side SVG: one bar per step run, from its `step.enter`
to its `step.exit` (or to now while it runs), each command attempt a segment inside it,
coloured by status, the failed ones outlined so the failing step is obvious."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from html import escape
from typing import Any

from noetl_pg.protocol import EventName, StepStatus

ROW, LABEL, WIDTH = 22, 160, 640  # pixels: bar height, label column, bar area


@dataclass
class Bar:
    step: str
    start: datetime
    end: datetime | None = None
    status: str = StepStatus.RUNNING
    segments: list[tuple[datetime, datetime, str]] = field(default_factory=list)


def bars(events: list[dict[str, Any]], commands: list[dict[str, Any]]) -> list[Bar]:
    """Step runs in the order they started; a loop's iterations share one bar per step."""
    open_runs: dict[str, Bar] = {}
    found: list[Bar] = []
    for event in events:
        step, at = event["step"], event["created_at"]
        if step is None:  # workflow-level events have no bar
            continue
        if event["name"] == EventName.STEP_ENTER and step not in open_runs:
            open_runs[step] = Bar(step, at)
            found.append(open_runs[step])
        elif event["name"] == EventName.STEP_EXIT and step in open_runs:
            bar = open_runs.pop(step)
            bar.end, bar.status = at, event["status"] or StepStatus.COMPLETED
    by_step = {bar.step: bar for bar in found}
    for command in commands:
        bar = by_step.get(command["step"])
        started = command["started_at"] or command["created_at"]
        if bar is None or started is None:
            continue
        ended = command["completed_at"] or started
        bar.segments.append(
            (_aware(started, bar.start), _aware(ended, bar.start), command["status"])
        )
    return found


def _aware(value: datetime, like: datetime) -> datetime:
    """noetl.queue keeps TIMESTAMP without zone (the server's); align it with the events'."""
    return value.replace(tzinfo=like.tzinfo) if value.tzinfo is None else value


def svg(found: list[Bar], now: datetime) -> str:
    if not found:
        return '<p class="muted">No step has started yet.</p>'
    origin = min(bar.start for bar in found)
    finish = max((bar.end or now) for bar in found)
    span = max((finish - origin).total_seconds(), 1e-3)

    def x(at: datetime) -> float:
        return LABEL + WIDTH * max((at - origin).total_seconds(), 0) / span

    parts = [
        f'<svg class="timeline" xmlns="http://www.w3.org/2000/svg" width="{LABEL + WIDTH + 10}"'
        f' height="{ROW * len(found) + 24}" role="img" aria-label="timeline">'
    ]
    for row, bar in enumerate(found):
        y = row * ROW + 4
        left, right = x(bar.start), x(bar.end or now)
        failed = " failing" if bar.status == StepStatus.FAILED else ""
        seconds = ((bar.end or now) - bar.start).total_seconds()
        parts.append(
            f'<g class="bar status-{escape(bar.status)}{failed}" data-step="{escape(bar.step)}">'
            f"<title>{escape(bar.step)}: {escape(bar.status)}, {seconds:.3f}s</title>"
            f'<text x="4" y="{y + 14}">{escape(bar.step)}</text>'
            f'<rect x="{left:.1f}" y="{y}" width="{max(right - left, 2):.1f}" height="{ROW - 6}"/>'
        )
        for start, end, status in bar.segments:
            parts.append(
                f'<rect class="segment status-{escape(status)}" x="{x(start):.1f}" y="{y + 4}"'
                f' width="{max(x(end) - x(start), 2):.1f}" height="{ROW - 14}"/>'
            )
        parts.append("</g>")
    axis_y = ROW * len(found) + 20
    parts.append(
        f'<text class="axis" x="{LABEL}" y="{axis_y}">0s</text>'
        f'<text class="axis" x="{LABEL + WIDTH - 40}" y="{axis_y}">{span:.2f}s</text>'
        "</svg>"
    )
    return "".join(parts)
