"""The metrics `noetl-engine` and `noetl-worker` serve with `--metrics-port`: what only
the process knows (wake-ups, batches, tool durations, busy slots), not what the tables
say (the gateway's /metrics reads those). docs/observability.md lists them."""

from __future__ import annotations

import argparse

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, start_http_server

REGISTRY = CollectorRegistry()

WAKEUPS = Counter(
    "noetl_daemon_wakeups_total",
    "Times the daemon woke to look for work, by cause (notify or timer).",
    ["daemon", "cause"],
    registry=REGISTRY,
)
DB_UNAVAILABLE = Counter(
    "noetl_daemon_database_unavailable_total",
    "Times the database could not be reached and the daemon retried (reconnects).",
    ["daemon"],
    registry=REGISTRY,
)
EVENTS_APPLIED = Counter(
    "noetl_engine_events_applied_total", "Events this engine applied.", registry=REGISTRY
)
BATCH_EVENTS = Histogram(
    "noetl_engine_batch_events",
    "Events applied per batch (one transaction).",
    buckets=(1, 2, 4, 8, 16, 32, 64, 128, 256, 512),
    registry=REGISTRY,
)
BATCH_SECONDS = Histogram(
    "noetl_engine_batch_duration_seconds", "Time to claim and apply one batch.", registry=REGISTRY
)
RULES = Counter(
    "noetl_engine_rules_evaluated_total",
    "`case` rules whose `when` the engine evaluated, by result (held: the rule fired).",
    ["result"],
    registry=REGISTRY,
)
RULES_HELD, RULES_NOT_HELD = RULES.labels("held"), RULES.labels("not_held")
COMMANDS = Counter(
    "noetl_worker_commands_total",
    "Commands this worker finished, by outcome (ok or error).",
    ["outcome"],
    registry=REGISTRY,
)
TOOL_SECONDS = Histogram(
    "noetl_worker_tool_duration_seconds",
    "Time from lease to report of a command.",
    registry=REGISTRY,
)
BUSY = Gauge("noetl_worker_busy_slots", "Commands this worker holds now.", registry=REGISTRY)
CONCURRENCY = Gauge(
    "noetl_worker_concurrency", "Commands this worker may hold at once.", registry=REGISTRY
)
RECLAIMS = Counter(
    "noetl_engine_lease_reclaims_total",
    "Expired leases the maintenance leader took back, by result (retried or failed).",
    ["result"],
    registry=REGISTRY,
)


def add_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--metrics-port",
        type=int,
        default=None,
        help="serve Prometheus metrics on this port (default: none)",
    )


def serve(port: int | None, host: str = "127.0.0.1") -> None:
    """Serve /metrics from a thread of the process (prometheus_client's own server)."""
    if port is not None:
        start_http_server(port, addr=host, registry=REGISTRY)


def woke(daemon: str, by_notify: bool) -> None:
    WAKEUPS.labels(daemon, "notify" if by_notify else "timer").inc()
