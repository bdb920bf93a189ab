"""OpenTelemetry traces, only with the `[otel]` extra and `OTEL_EXPORTER_OTLP_ENDPOINT` set:
one trace per execution, a span per event the engine applies and per tool call a worker
runs. Off (the default), nothing of OpenTelemetry is imported and `span` returns one
shared no-op context manager.

The trace id is derived from the execution id (`trace_id`), so the engine's and every
worker's spans join the same trace without passing any context between processes; they
all hang under one parent span id derived the same way, which no process records.
docs/observability.md says how to turn it on.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
from contextlib import AbstractContextManager
from typing import Any

ENDPOINT_ENV = "OTEL_EXPORTER_OTLP_ENDPOINT"
PROTOCOL_ENV = "OTEL_EXPORTER_OTLP_PROTOCOL"

log = logging.getLogger("noetl_pg.tracing")
_NOOP: AbstractContextManager[Any] = contextlib.nullcontext()
_tracer: Any = None  # an SDK tracer once `configure` turned tracing on
_provider: Any = None


def _digest(execution_id: str) -> bytes:
    return hashlib.sha256(execution_id.encode()).digest()


def trace_id(execution_id: str) -> int:
    """The trace id of an execution: the first 16 bytes of sha256(execution_id); as hex
    (`format(trace_id(x), "032x")`) it is what to search for in a trace viewer."""
    return int.from_bytes(_digest(execution_id)[:16]) or 1


def _parent_span_id(execution_id: str) -> int:
    return int.from_bytes(_digest(execution_id)[16:24]) or 1


def configure(service: str, processor: Any = None) -> bool:
    """Turn tracing on for this process as `service`: spans go to `processor` (tests pass
    one with an in-memory exporter) or, when `OTEL_EXPORTER_OTLP_ENDPOINT` is set, to an
    OTLP exporter (`OTEL_EXPORTER_OTLP_PROTOCOL=grpc` for gRPC, else HTTP). Whether on."""
    global _tracer, _provider
    if processor is None and not os.environ.get(ENDPOINT_ENV):
        return False
    try:
        from opentelemetry.sdk.resources import Resource
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import BatchSpanProcessor
    except ImportError:
        log.warning("%s is set but the [otel] extra is not installed: no traces", ENDPOINT_ENV)
        return False
    if processor is None:
        if os.environ.get(PROTOCOL_ENV) == "grpc":
            from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter
        else:
            from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
        processor = BatchSpanProcessor(OTLPSpanExporter())
    disable()
    _provider = TracerProvider(resource=Resource.create({"service.name": service}))
    _provider.add_span_processor(processor)
    _tracer = _provider.get_tracer("noetl_pg")
    return True


def disable() -> None:
    """Flush and stop this process's tracing (spans become no-ops again)."""
    global _tracer, _provider
    if _provider is not None:
        _provider.shutdown()
    _tracer = _provider = None


def span(name: str, execution_id: str, **attributes: Any) -> AbstractContextManager[Any]:
    """A span `name` in the execution's trace (a no-op when tracing is off), with the
    attributes as `noetl.<name>`; an exception leaving it marks the span as an error."""
    if _tracer is None:
        return _NOOP
    from opentelemetry import trace

    parent = trace.NonRecordingSpan(
        trace.SpanContext(
            trace_id=trace_id(execution_id),
            span_id=_parent_span_id(execution_id),
            is_remote=True,
            trace_flags=trace.TraceFlags(trace.TraceFlags.SAMPLED),
        )
    )
    attributes["execution_id"] = execution_id
    return _tracer.start_as_current_span(
        name,
        context=trace.set_span_in_context(parent),
        attributes={f"noetl.{k}": v for k, v in attributes.items() if v is not None},
    )
