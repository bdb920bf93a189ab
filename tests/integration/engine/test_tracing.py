"""Traces (the `[otel]` extra): one trace per execution, a span per event the engine applies
and per tool call, caught with the SDK's in-memory exporter; and nothing of OpenTelemetry
imported when tracing is off."""

from __future__ import annotations

import asyncio
import subprocess
import sys

import pytest

from noetl_pg import tracing
from noetl_pg.engine.daemon import Engine
from tests.integration.console.support import FAILING
from tests.integration.worker.conftest import run_worker_until, unfinished
from tests.support.catalog import register_playbook

otel = pytest.importorskip(
    "opentelemetry.sdk.trace", reason="the [otel] extra is not installed (pip install .[otel])"
)
from opentelemetry.sdk.trace.export import SimpleSpanProcessor  # noqa: E402
from opentelemetry.sdk.trace.export.in_memory_span_exporter import (  # noqa: E402
    InMemorySpanExporter,
)
from opentelemetry.trace import StatusCode  # noqa: E402


@pytest.fixture
def spans():
    exporter = InMemorySpanExporter()
    tracing.configure("test", SimpleSpanProcessor(exporter))
    yield exporter
    tracing.disable()


def _status(conn, execution_id: str) -> str | None:
    row = conn.execute(
        "SELECT status FROM noetl.execution WHERE execution_id = %s", [execution_id]
    ).fetchone()
    return row["status"] if row else None


def test_one_trace_per_execution_with_a_span_per_event_and_tool_call(dsn, conn, spans):
    register_playbook(conn, FAILING)  # start, then a python step that raises
    for execution_id in ("exec-traced-1", "exec-traced-2"):
        conn.execute(
            "INSERT INTO noetl.event (execution_id, event_type, payload)"
            " VALUES (%s, 'workflow.start', '{\"path\": \"console/failing\"}')",
            [execution_id],
        )
    for _ in range(20):
        asyncio.run(Engine(dsn).run_until_idle())
        if all(_status(conn, e) == "failed" for e in ("exec-traced-1", "exec-traced-2")):
            break
        run_worker_until(dsn, lambda c: unfinished(c) == 0)
    else:
        raise AssertionError("the executions did not fail as the playbook says")

    finished = spans.get_finished_spans()
    by_trace: dict[int, list] = {}
    for span in finished:
        by_trace.setdefault(span.context.trace_id, []).append(span)
    assert set(by_trace) == {tracing.trace_id("exec-traced-1"), tracing.trace_id("exec-traced-2")}
    mine = by_trace[tracing.trace_id("exec-traced-1")]
    assert {s.attributes["noetl.execution_id"] for s in mine} == {"exec-traced-1"}
    names = [s.name for s in mine]
    assert "apply workflow.start" in names
    assert names.count("apply call.done") == 2
    tools = {s.attributes["noetl.step"]: s for s in mine if s.name.startswith("tool ")}
    assert set(tools) == {"start", "explode"}
    assert tools["start"].name == "tool noop"
    assert tools["start"].status.status_code == StatusCode.UNSET
    assert tools["explode"].status.status_code == StatusCode.ERROR  # the failing call
    parents = {s.parent.span_id for s in mine}  # all under the one derived parent
    assert len(parents) == 1


def test_tracing_off_imports_nothing_of_opentelemetry():
    code = (
        "import sys, noetl_pg.engine.daemon, noetl_pg.worker.daemon\n"
        "from noetl_pg import tracing\n"
        "assert not tracing.configure('x')\n"
        "assert tracing.span('s', 'e') is tracing.span('t', 'f')\n"
        "print(sorted(m for m in sys.modules if m.startswith('opentelemetry')))\n"
    )
    env = {"PATH": "/usr/bin:/bin"}  # OTEL_EXPORTER_OTLP_ENDPOINT unset
    out = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True
    )
    assert out.stdout.strip() == "[]"


def test_the_endpoint_variable_turns_on_the_otlp_exporter(monkeypatch):
    monkeypatch.setenv(tracing.ENDPOINT_ENV, "http://127.0.0.1:1")
    try:
        assert tracing.configure("test")
        assert tracing.span("s", "e") is not tracing.span("t", "f")
    finally:
        tracing.disable()
