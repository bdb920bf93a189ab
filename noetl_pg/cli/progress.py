"""Live progress of one execution, drawn from its events.

Each step is shown as it starts and as it ends, with its duration; failed calls (the ones
a retry rule will repeat, for instance) are shown as they happen. On a terminal a spinner
line at the bottom names the steps running now; piped, the output is plain lines only.
"""

from __future__ import annotations

import json
import re
import time
from collections import defaultdict, deque
from datetime import datetime
from typing import Any, TextIO

from noetl_pg.protocol import EventName, ExecutionStatus, StepStatus

# The event that ends an execution, and the status it ends with.
ENDINGS = {
    EventName.WORKFLOW_COMPLETE: ExecutionStatus.COMPLETED,
    EventName.WORKFLOW_FAILED: ExecutionStatus.FAILED,
    EventName.WORKFLOW_CANCELLED: ExecutionStatus.CANCELLED,
}
# The worker's run_key: step#run/iteration/call (call counts from 1 within one iteration).
RUN_KEY = re.compile(r"^.+#(?P<run>\d+)/(?P<iteration>\d+)/(?P<call>\d+)$")
SPINNER_UNICODE = "⠋⠙⠹⠸⠼⠴⠦⠧⠇⠏"
SPINNER_ASCII = "|/-\\"


def warning_line(warning: dict[str, Any]) -> str:
    """One warning of an execution (`warnings` of its state), as `run` and `status` print it."""
    return f"{warning['kind']}: {error_text(warning['message'], 500)} (event {warning['event_id']})"


def error_text(error: Any, limit: int = 240) -> str:
    """A one-line description of an error payload (a string or `{kind, message, ...}`)."""
    if isinstance(error, dict):
        message = error.get("message")
        if message and error.get("type"):  # a python exception: "ValueError: kaboom"
            text = f"{error['type']}: {message}"
        elif message:
            text = str(message)
        else:
            status = error.get("status")
            text = " ".join(
                str(part)
                for part in (error.get("kind"), f"HTTP {status}" if status else None)
                if part
            ) or json.dumps(error, default=str)
    else:
        text = str(error)
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


class Progress:
    """Turns the events of one execution into lines on `stream`."""

    def __init__(self, stream: TextIO, *, live: bool) -> None:
        self.stream = stream
        self.live = live
        self.origin: datetime | None = None
        self._entered: dict[str, deque[datetime]] = defaultdict(deque)
        self._running: dict[str, int] = defaultdict(int)
        # step -> {run number: calls so far}, from the run_key the worker reports
        self._calls: dict[str, dict[int, int]] = defaultdict(dict)
        self._iterations: dict[str, int] = defaultdict(int)
        self._spinner_shown = False
        self._frame = 0
        encoding = (getattr(stream, "encoding", None) or "ascii").lower()
        self._frames = SPINNER_UNICODE if "utf" in encoding else SPINNER_ASCII
        self._started_clock = time.monotonic()

    # --- events ----------------------------------------------------------------------

    def event(self, row: dict[str, Any]) -> None:
        name, step, at = row["name"], row.get("step"), row["created_at"]
        payload = row.get("payload") or {}
        if self.origin is None:
            self.origin = at
        if name == EventName.STEP_ENTER and step:
            self._step_enter(step, at, payload)
        elif name == EventName.CALL_DONE and step:
            self._call_done(step, at, payload)
        elif name == EventName.STEP_EXIT and step:
            self._step_exit(step, at, payload)
        elif name in ENDINGS:
            total = (at - self.origin).total_seconds()
            self.line(at, f"workflow {ENDINGS[name]} in {total:.2f}s")
        elif name == EventName.WORKFLOW_CANCEL:
            reason = payload.get("reason")
            self.line(at, "cancel requested" + (f": {reason}" if reason else ""))
        elif row.get("error") and name == EventName.WORKFLOW_START:
            self.line(at, f"start refused: {row['error']}")

    def _step_enter(self, step: str, at: datetime, payload: dict[str, Any]) -> None:
        iteration = payload.get("iteration")
        if iteration is not None and iteration > 0:
            self._iterations[step] += 1
            self.redraw()
            return
        self._entered[step].append(at)
        self._running[step] += 1
        self._iterations[step] = 1 if iteration is not None else 0
        self.line(at, f"{step}: started" + (" (loop)" if iteration is not None else ""))

    def _call_done(self, step: str, at: datetime, payload: dict[str, Any]) -> None:
        match = RUN_KEY.match(str(payload.get("run_key") or ""))
        if match:
            run, call = int(match["run"]), int(match["call"])
            self._calls[step][run] = max(self._calls[step].get(run, 0), call)
        if payload.get("error") is not None:
            self.line(at, f"{step}: call failed: {error_text(payload['error'])}")
        else:
            self.redraw()

    def _step_exit(self, step: str, at: datetime, payload: dict[str, Any]) -> None:
        status = payload.get("status") or StepStatus.COMPLETED
        entered = self._entered[step].popleft() if self._entered[step] else at
        self._running[step] = max(0, self._running[step] - 1)
        details = []
        runs = self._calls[step]
        calls = runs.pop(min(runs)) if runs else 0  # the oldest run ends first, most often
        if self._iterations[step]:
            details.append(f"{self._iterations[step]} iterations")
        elif calls > 1:
            details.append(f"{calls} calls")
        if not self._running[step]:
            self._iterations[step] = 0
        text = f"{step}: {status} in {(at - entered).total_seconds():.2f}s"
        if details:
            text += f" ({', '.join(details)})"
        if status == StepStatus.FAILED and payload.get("error") is not None:
            text += f": {error_text(payload['error'])}"
        elif status == StepStatus.SKIPPED and payload.get("reason"):
            text += f": {payload['reason']}"
        self.line(at, text)

    # --- drawing ---------------------------------------------------------------------

    def line(self, at: datetime | None, text: str) -> None:
        offset = (at - self.origin).total_seconds() if at and self.origin else 0.0
        self._clear_spinner()
        self.stream.write(f"{offset:+8.2f}s  {text}\n")
        self.redraw()

    def say(self, text: str) -> None:
        """A line that is not an event (headers, notes)."""
        self._clear_spinner()
        self.stream.write(text + "\n")
        self.redraw()

    def tick(self) -> None:
        """Advance the spinner (called by the follower while it waits)."""
        self._frame += 1
        self.redraw()

    def redraw(self) -> None:
        if not self.live:
            self.stream.flush()
            return
        running = [
            f"{step}[{self._iterations[step]}]" if self._iterations[step] else step
            for step, count in self._running.items()
            if count
        ]
        elapsed = time.monotonic() - self._started_clock
        frame = self._frames[self._frame % len(self._frames)]
        what = ", ".join(running) if running else "waiting for the engine"
        self.stream.write(f"\r\x1b[K{frame} {elapsed:6.1f}s  {what}")
        self.stream.flush()
        self._spinner_shown = True

    def close(self) -> None:
        self._clear_spinner()
        self.stream.flush()

    def _clear_spinner(self) -> None:
        if self._spinner_shown:
            self.stream.write("\r\x1b[K")
            self._spinner_shown = False
