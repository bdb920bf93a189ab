"""Hot queries stay on their indexes however much history there is.

The database is filled by `generate_series` with 1 M events and 200 k finished queue rows
of history (and a few live rows), analyzed, and every hot query is EXPLAINed with real
parameters: none may scan a history table sequentially, and each must use the index it
was written for.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any

import pytest

from noetl_pg.store.db import connect
from noetl_pg.store.queries import query

EXECUTIONS = 100_000
EVENTS_PER_EXECUTION = 10  # 1 M events
QUEUE_HISTORY = 200_000
HISTORY_TABLES = {"event", "queue", "execution"}

FILL = f"""
SELECT noetl.ensure_event_partitions(now() - interval '12 days', now());
ALTER TABLE noetl.event DISABLE TRIGGER USER;
INSERT INTO noetl.execution (execution_id, path, version, status, created_at, finished_at)
SELECT 'exec-' || g, 'plans/p' || (g % 50), 1,
       CASE WHEN g % 1000 = 0 THEN 'running' WHEN g % 97 = 0 THEN 'failed'
            ELSE 'completed' END,
       now() - make_interval(secs => {EXECUTIONS} - g),
       CASE WHEN g % 1000 = 0 THEN NULL ELSE now() - make_interval(secs => {EXECUTIONS} - g) END
  FROM generate_series(1, {EXECUTIONS}) AS g;
INSERT INTO noetl.event (event_id, execution_id, event_type, node_name, status, payload,
                         created_at, processed_at, processed_by)
SELECT g, 'exec-' || ((g - 1) / {EVENTS_PER_EXECUTION} + 1), 'call.done', 'step', 'ok',
       '{{}}', now() - make_interval(secs => {EXECUTIONS * EVENTS_PER_EXECUTION} - g),
       CASE WHEN g % 100000 = 0 THEN NULL ELSE now() END, 'engine-plans'
  FROM generate_series(1, {EXECUTIONS * EVENTS_PER_EXECUTION}) AS g;
SELECT setval(pg_get_serial_sequence('noetl.event', 'event_id'),
              {EXECUTIONS * EVENTS_PER_EXECUTION});
ALTER TABLE noetl.event ENABLE TRIGGER USER;
INSERT INTO noetl.queue (queue_id, execution_id, step, tool_kind, status, attempt,
                         assigned_worker_id, created_at, completed_at, run_key,
                         lease_expires_at)
SELECT g, 'exec-' || ((g - 1) / 2 + 1), 'step', 'python',
       CASE WHEN g % 20000 = 0 THEN 'pending' WHEN g % 20000 = 1 THEN 'leased'
            ELSE 'done' END,
       1, 'worker-' || (g % 16), now() - make_interval(secs => {QUEUE_HISTORY} - g),
       CASE WHEN g % 20000 IN (0, 1) THEN NULL ELSE now() END, 'step:' || g,
       CASE WHEN g % 20000 = 1 THEN now() + interval '1 minute' END
  FROM generate_series(1, {QUEUE_HISTORY}) AS g;
SELECT setval(pg_get_serial_sequence('noetl.queue', 'queue_id'), {QUEUE_HISTORY});
ANALYZE noetl.execution;
ANALYZE noetl.event;
ANALYZE noetl.queue;
"""

IDS = ["exec-1000", "exec-2000", "exec-31"]
HELD = {"queue_ids": [20001, 40001], "worker_ids": ["worker-1", "worker-1"], "attempts": [1, 1]}
RESULT_ROWS = json.dumps([{"event_id": 100000, "error": None, "diagnostic": None}])

# Partial indexes over live rows only: their size follows the live queue, not the history.
PENDING = {"idx_queue_ready", "idx_queue_pending_available"}
LEASED = {"idx_queue_leases", "queue_pkey"}

# query name -> (parameters, the indexes one of which its plan must use)
HOT: dict[str, tuple[dict[str, Any], str | set[str]]] = {
    "lease_commands": ({"n": 10, "worker_id": "w", "lease_seconds": 30.0}, PENDING),
    "next_available_delay": ({}, "idx_queue_pending_available"),
    "enforce_step_limits": ({"queue_ids": [20001, 40001]}, "queue_pkey"),
    "keys_with_queued": ({"limit": 500}, "idx_execution_concurrency"),
    "admit_queued": (
        {"ids": IDS, "keys": ["k"], "queued": "queued", "admit_event": "workflow.admit"},
        "idx_execution_concurrency",
    ),
    "lock_concurrency_keys": ({"ids": IDS, "keys": ["k"]}, "execution_pkey"),
    "cancel_timed_out_commands": (
        {"rows": json.dumps([{"execution_id": "exec-31", "run_key": "step:61"}])},
        {"idx_queue_execution", "idx_queue_status_priority"},  # live rows only, either way
    ),
    "report_command": (
        {
            "queue_status": "done",
            "last_error": None,
            "queue_id": 20001,
            "worker_id": "worker-1",
            "attempt": 1,
            "payload": "{}",
        },
        LEASED,  # it finds a leased row: by its id, or among the few leased ones
    ),
    "heartbeat_leases": ({**HELD, "lease_seconds": 30.0}, LEASED),
    "release_leases": (HELD, LEASED),
    "reclaim_expired_leases": ({}, "idx_queue_leases"),
    "claim_executions": ({"scan": 1000, "batch": 16}, "idx_event_unprocessed"),
    "load_unprocessed_events": ({"ids": IDS, "limit": 1000}, "idx_event_unprocessed"),
    "load_executions": ({"ids": IDS}, "execution_pkey"),
    "mark_events_processed": ({"engine": "e", "rows": RESULT_ROWS}, "event_pkey"),
    "cancel_pending_commands": ({"ids": IDS}, PENDING | {"idx_queue_execution"}),
    "list_executions": (
        {
            "status": "running",
            "path": None,
            "after_created_at": None,
            "after_execution_id": None,
            "limit": 50,
        },
        "idx_execution_status",
    ),
    "get_execution_state": ({"execution_id": "exec-5000"}, "execution_pkey"),
    "execution_summary": ({"execution_id": "exec-5000"}, "idx_queue_execution"),
    "list_execution_events": (
        {"execution_id": "exec-5000", "after": 0, "limit": 100},
        "idx_event_execution",
    ),
    "list_execution_commands": ({"execution_id": "exec-5000"}, "idx_queue_execution"),
    "remove_expired_executions": ({"retention": "30d", "batch": 500}, "idx_execution_finished"),
}


@pytest.fixture(scope="module")
def history(databases) -> Iterator[str]:
    """A database holding 1 M events and 200 k queue rows of history, analyzed."""
    dsn = databases.fresh()
    started = time.monotonic()
    with connect(dsn, autocommit=True) as conn:
        conn.execute(FILL)
    print(f"filled history in {time.monotonic() - started:.1f} s")
    yield dsn


# A week partition of noetl.event, and each of its indexes, by the name of its parent;
# `empty`: a partition ANALYZE found empty (weeks ahead, the default), which a plan may
# read sequentially at no cost.
PARENTS = """
SELECT c.relname AS child, p.relname AS parent, c.relkind = 'r' AND c.reltuples = 0 AS empty
  FROM pg_inherits i
  JOIN pg_class c ON c.oid = i.inhrelid
  JOIN pg_class p ON p.oid = i.inhparent
 WHERE p.relnamespace = 'noetl'::regnamespace
"""


def _scans(
    plan: dict[str, Any], parents: dict[str, str], empty: set[str]
) -> Iterator[tuple[str, str | None, str | None]]:
    """(node type, relation, index) of every node of a JSON plan, partitions named as
    their partitioned table and partition indexes as the index they belong to."""
    relation, index = plan.get("Relation Name"), plan.get("Index Name")
    if plan["Node Type"] == "Seq Scan" and relation in empty:
        relation = None
    yield plan["Node Type"], parents.get(relation, relation), parents.get(index, index)
    for child in plan.get("Plans", []):
        yield from _scans(child, parents, empty)


def test_history_is_filled(history):
    with connect(history, autocommit=True) as conn:
        events = conn.execute("SELECT count(*) AS n FROM noetl.event").fetchone()["n"]
        queue = conn.execute("SELECT count(*) AS n FROM noetl.queue").fetchone()["n"]
    assert events >= 1_000_000
    assert queue >= 200_000


@pytest.mark.parametrize("name", sorted(HOT))
def test_hot_query_stays_on_its_index(history, name):
    params, wanted = HOT[name]
    indexes = {wanted} if isinstance(wanted, str) else wanted
    with connect(history) as conn:
        row = conn.execute("EXPLAIN (FORMAT JSON) " + query(name), params).fetchone()
        conn.rollback()
        rows = conn.execute(PARENTS).fetchall()
    parents = {r["child"]: r["parent"] for r in rows}
    empty = {r["child"] for r in rows if r["empty"]}
    plan = next(iter(row.values()))[0]["Plan"]
    scans = list(_scans(plan, parents, empty))
    sequential = [rel for node, rel, _ in scans if node == "Seq Scan" and rel in HISTORY_TABLES]
    assert not sequential, f"{name} scans {sequential} sequentially: {scans}"
    used = {idx for _, _, idx in scans}
    assert indexes & used, f"{name} uses none of {sorted(indexes)}: {scans}"


def test_an_execution_s_warnings_are_read_from_the_partial_indexes(history):
    with connect(history) as conn:
        row = conn.execute(
            "EXPLAIN (FORMAT JSON) " + query("get_execution_state"), {"execution_id": "exec-5000"}
        ).fetchone()
        conn.rollback()
        rows = conn.execute(PARENTS).fetchall()
    parents = {r["child"]: r["parent"] for r in rows}
    plan = next(iter(row.values()))[0]["Plan"]
    used = {index for _, _, index in _scans(plan, parents, set())}
    # (idx_event_execution stays in the plan: it finds the pending workflow.start of an
    # execution no engine has created yet, one row.)
    assert {"idx_event_diagnostic", "idx_event_refused"} <= used, used
