"""The route table: each endpoint once, with what the OpenAPI document says about it.

`ENDPOINTS` is a list other modules append to (an `Endpoint` per path and method);
`create_app` builds its routes from it and `/openapi.json` describes exactly it, so an
endpoint cannot be served without being documented. `MOUNTS` holds undocumented
sub-applications (static assets).
"""

from __future__ import annotations

from typing import Any

from starlette.routing import BaseRoute, Mount

from noetl_pg.gateway import (
    answers,
    console,
    drain,
    events,
    executions,
    health,
    metrics,
    openapi,
    playbooks,
    schedules,
    signals,
    workers,
)
from noetl_pg.gateway.models import EventIn, RegisterPlaybook
from noetl_pg.gateway.route_table import Endpoint, Param, Reply
from noetl_pg.protocol import ExecutionStatus
from noetl_pg.protocol import lease as work
from noetl_pg.protocol.client import CancelPayload

# --- the shared parts of the table --------------------------------------------------

RETRY_AFTER = {"Retry-After": "seconds to wait before retrying"}
UNAVAILABLE = {503: Reply("the database is not reachable", headers=RETRY_AFTER)}
BAD_BODY = {
    400: Reply("malformed JSON, or an empty body"),
    413: Reply("the body is larger than the limit"),
    415: Reply("the body is not application/json"),
    422: Reply("wrong types, unknown fields or names, missing fields"),
}
# What starts a new workflow is also refused while the deployment drains.
STARTS_UNAVAILABLE = {
    503: Reply(
        "the database is not reachable; or (code `draining`) the deployment is draining and "
        "refuses new workflows",
        headers=RETRY_AFTER,
    )
}
BAD_QUERY = {422: Reply("a query parameter out of range or of the wrong type")}
REPLAYED = {"Idempotent-Replayed": "`true` when this is the stored answer to an earlier request"}
EVENT_REPLIES = {
    200: Reply("an engine applied the event within `wait`", answers.Processed, headers=REPLAYED),
    202: Reply("stored; no engine applied it within `wait`", answers.Accepted, headers=REPLAYED),
    **BAD_BODY,
    409: Reply(
        "the execution was already started or has finished; the lease is not held "
        "(call.done); the Idempotency-Key was first used for another request"
    ),
    **STARTS_UNAVAILABLE,
}


def query(name: str, schema: dict[str, Any], description: str) -> Param:
    return Param(name, "query", schema, description)


WAIT = query(
    "wait",
    {"type": "number", "minimum": 0, "maximum": events.MAX_WAIT, "default": events.DEFAULT_WAIT},
    "seconds to wait until an engine has applied the event (0: answer at once)",
)
IDEMPOTENCY_KEY = Param(
    "Idempotency-Key",
    "header",
    {"type": "string", "minLength": 1, "maxLength": events.MAX_KEY_LENGTH, "pattern": r"\S"},
    "a retried request with the same key gets the first answer and writes nothing; "
    "the same key with another request is refused (409)",
)
EXECUTION_ID = Param(
    "execution_id",
    "path",
    {"type": "string", "minLength": 1},
    "the execution id ('exec-' and 32 hex digits by default)",
    required=True,
)
NO_EXECUTION = {404: Reply("no such execution")}
INT4 = {"type": "integer", "minimum": 1, "maximum": 2**31 - 1}

ENDPOINTS: list[Endpoint] = [
    Endpoint(
        "GET",
        "/api/v2/health",
        health.health,
        "Is the gateway up and the database reachable?",
        {
            200: Reply("healthy", answers.Health),
            503: Reply("the database is unreachable or has no schema", answers.Unavailable),
        },
        public=True,
    ),
    Endpoint(
        "POST",
        "/api/v2/engine/register-playbook",
        playbooks.register_playbook,
        "Register a playbook (a new version unless the same text was registered)",
        {
            201: Reply("a new version was stored", answers.Registered),
            200: Reply("this exact text was already registered", answers.Registered),
            **BAD_BODY,
            422: Reply(
                "invalid body or playbook: details.problems lists every problem "
                "(source, line, column, step, field, message)"
            ),
            **UNAVAILABLE,
        },
        body=RegisterPlaybook,
        other_bodies={"application/yaml": {"type": "string", "minLength": 1}},
    ),
    Endpoint(
        "POST",
        "/api/v2/events",
        events.post_event,
        "Send an event: workflow.start, workflow.cancel, or call.done",
        {**EVENT_REPLIES, 404: Reply("unknown playbook (start) or execution (cancel)")},
        body=EventIn,
        params=(WAIT, IDEMPOTENCY_KEY),
    ),
    Endpoint(
        "GET",
        "/api/v2/playbooks",
        playbooks.list_playbooks,
        "The latest version of every registered playbook",
        {200: Reply("the catalog", answers.PlaybookList), **UNAVAILABLE},
    ),
    Endpoint(
        "GET",
        "/api/v2/playbooks/{path:path}",
        playbooks.get_playbook,
        "One playbook: the latest version, or `?version=`",
        {
            200: Reply("the playbook", answers.PlaybookDetail),
            404: Reply("no such playbook or version"),
            **BAD_QUERY,
            **UNAVAILABLE,
        },
        params=(
            Param("path", "path", {"type": "string"}, "catalog path, may hold '/'", True),
            query("version", INT4, "a version number"),
        ),
    ),
    Endpoint(
        "GET",
        "/api/v2/executions",
        executions.get_executions,
        "Executions, newest first",
        {200: Reply("one page", answers.ExecutionPage), **BAD_QUERY, **UNAVAILABLE},
        params=(
            query("status", {"enum": [str(s) for s in ExecutionStatus]}, "only this status"),
            query("path", {"type": "string"}, "only this playbook path"),
            query("limit", {"type": "integer", "minimum": 1, "maximum": 500}, "page size"),
            query(
                "cursor",
                {"type": "string", "pattern": executions.CURSOR_PATTERN},
                "next_cursor of the previous page",
            ),
        ),
    ),
    Endpoint(
        "GET",
        "/api/v2/executions/{execution_id}",
        executions.get_execution,
        "The state of one execution (the shape of noetl_pg.get_state)",
        {200: Reply("its state", answers.ExecutionDetail), **NO_EXECUTION, **UNAVAILABLE},
        params=(EXECUTION_ID,),
    ),
    Endpoint(
        "GET",
        "/api/v2/executions/{execution_id}/events",
        executions.get_execution_events,
        "The event log of one execution, in the order it is applied",
        {
            200: Reply("one page", answers.EventPage),
            **NO_EXECUTION,
            **BAD_QUERY,
            **UNAVAILABLE,
        },
        params=(
            EXECUTION_ID,
            query(
                "after",
                {"type": "integer", "minimum": 0, "maximum": 2**63 - 1},
                "only events with a larger event_id (next_after of the previous page)",
            ),
            query("limit", {"type": "integer", "minimum": 1, "maximum": 1000}, "page size"),
        ),
    ),
    Endpoint(
        "GET",
        "/api/v2/executions/{execution_id}/commands",
        executions.get_execution_commands,
        "The commands of one execution (its rows of noetl.queue), oldest first",
        {200: Reply("its commands", answers.CommandList), **NO_EXECUTION, **UNAVAILABLE},
        params=(EXECUTION_ID,),
    ),
    Endpoint(
        "POST",
        "/api/v2/executions/{execution_id}/cancel",
        events.cancel_execution,
        "Stop an execution (a workflow.cancel event)",
        {**EVENT_REPLIES, **NO_EXECUTION},
        body=CancelPayload,
        body_required=False,
        params=(EXECUTION_ID, WAIT, IDEMPOTENCY_KEY),
    ),
    Endpoint(
        "POST",
        "/api/v2/executions/{execution_id}/signals",
        signals.post_signal,
        "Send a signal: resumes a `wait` on it (kept for the first wait if none waits yet)",
        {
            202: Reply("stored as a signal event", answers.SignalSent),
            **BAD_BODY,
            **NO_EXECUTION,
            409: Reply("the execution has finished"),
            **UNAVAILABLE,
        },
        body=signals.SignalIn,
        params=(EXECUTION_ID,),
    ),
    Endpoint(
        "POST",
        "/api/v2/executions/{execution_id}/rerun",
        signals.post_rerun,
        "Re-run a failed execution from its failed steps (or `from_step`), as a new execution",
        {
            202: Reply("the new execution was started", answers.RerunStarted),
            **BAD_BODY,
            **NO_EXECUTION,
            409: Reply("the execution has not failed or been cancelled"),
            422: Reply("no such step, or nothing to re-run"),
            **STARTS_UNAVAILABLE,
        },
        body=signals.RerunIn,
        body_required=False,
        params=(EXECUTION_ID,),
    ),
    Endpoint(
        "GET",
        "/api/v2/schedules",
        schedules.get_schedules,
        "Every schedule (of one playbook path with `?path=`) and its next tick",
        {200: Reply("the schedules", answers.ScheduleList), **BAD_QUERY, **UNAVAILABLE},
        params=(query("path", {"type": "string"}, "only this playbook path"),),
    ),
    Endpoint(
        "POST",
        "/api/v2/schedules/pause",
        schedules.pause_schedules,
        "Pause a playbook's schedules (or one, with `name`)",
        {
            200: Reply("the paused schedules", answers.ScheduleList),
            **BAD_BODY,
            404: Reply("no such schedule"),
            **UNAVAILABLE,
        },
        body=schedules.ScheduleRef,
    ),
    Endpoint(
        "POST",
        "/api/v2/schedules/resume",
        schedules.resume_schedules,
        "Resume a playbook's schedules (or one, with `name`)",
        {
            200: Reply("the resumed schedules", answers.ScheduleList),
            **BAD_BODY,
            404: Reply("no such schedule"),
            **UNAVAILABLE,
        },
        body=schedules.ScheduleRef,
    ),
    Endpoint(
        "GET",
        "/api/v2/drain",
        drain.get_drain,
        "Whether the deployment is draining, and how many executions are unfinished",
        {200: Reply("the drain status", answers.DrainStatus), **UNAVAILABLE},
    ),
    Endpoint(
        "POST",
        "/api/v2/drain",
        drain.post_drain,
        "Drain (`draining: true`: new workflows are refused, running ones finish) or resume"
        " (admin)",
        {
            200: Reply("the drain status after the change", answers.DrainStatus),
            **BAD_BODY,
            **UNAVAILABLE,
        },
        body=drain.DrainChange,
    ),
    Endpoint(
        "GET",
        "/api/v2/queue",
        executions.get_queue,
        "Queue depth: commands per status and the age of the oldest of each",
        {200: Reply("e.g. {commands: {pending: 3}, ...}", answers.QueueDepth), **UNAVAILABLE},
    ),
    Endpoint(
        "GET",
        "/openapi.json",
        openapi.openapi_json,
        "This description (OpenAPI 3.1)",
        {200: Reply("the OpenAPI document", {"type": "object"})},
    ),
    Endpoint(
        "GET",
        "/docs",
        openapi.docs,
        "This description, rendered by Swagger UI (served from the package, no network)",
        {200: Reply("an HTML page", {"type": "string"}, media_type="text/html")},
    ),
]

ENDPOINTS.append(
    Endpoint(
        "GET",
        "/metrics",
        metrics.metrics,
        "Prometheus metrics: requests, queue depth, executions, apply latency (observability.md)",
        {200: Reply("the text exposition format", {"type": "string"}, media_type="text/plain")},
    )
)

# --- the remote workers' queue (gateway/workers.py; worker or admin tokens only) ------------

REPORT_REFUSED = {
    422: Reply(
        "wrong types, unknown fields or names, missing fields; `result_not_storable` when"
        " PostgreSQL's jsonb cannot hold the payload"
    )
}


def worker_endpoint(
    name: str, handler: Any, summary: str, body: Any, reply: Any, ok: str
) -> Endpoint:
    refused = REPORT_REFUSED if name == "report" else {}
    return Endpoint(
        "POST",
        f"/api/v2/workers/{name}",
        handler,
        summary,
        {200: Reply(ok, reply), **BAD_BODY, **refused, **UNAVAILABLE},
        body=body,
    )


ENDPOINTS.extend(
    [
        worker_endpoint(
            "lease",
            workers.post_lease,
            "Lease up to `max` ready commands; with none ready, wait up to `wait` s for one",
            work.LeaseRequest,
            work.LeaseReply,
            "the leased commands (none when `wait` passed with nothing ready)",
        ),
        worker_endpoint(
            "heartbeat",
            workers.post_heartbeat,
            "Extend the given leases; the queue_ids still held (the others were lost)",
            work.LeasesRequest,
            work.HeldReply,
            "the queue_ids whose lease was extended",
        ),
        worker_endpoint(
            "release",
            workers.post_release,
            "Give the given leases back (pending again, same attempt)",
            work.LeasesRequest,
            work.HeldReply,
            "the queue_ids given back",
        ),
        worker_endpoint(
            "report",
            workers.post_report,
            "Finish a leased command with its call.done (fenced: a lost lease records nothing)",
            work.ReportRequest,
            work.ReportReply,
            "the call.done's event_id, or null when the lease was lost",
        ),
        worker_endpoint(
            "child",
            workers.post_child,
            "Park a leased command as waiting and start its child execution (playbook tool)",
            work.ChildRequest,
            work.ChildReply,
            "held: false when the lease was lost; event_id null when the child existed",
        ),
        worker_endpoint(
            "wait",
            workers.post_wait,
            "Park a leased command as waiting on a timer or a signal (wait tool)",
            work.WaitRequest,
            work.WaitReply,
            "parked: false when the lease was lost or it was parked already",
        ),
    ]
)

# The console's pages (docs/console.md) are HTML for people, not API: served, not described.
MOUNTS: list[BaseRoute] = [
    Mount(openapi.ASSETS_PATH, app=openapi.assets(), name="docs-assets"),
    *console.routes(),
]
