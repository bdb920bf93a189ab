"""Every named query on the tables Citus would distribute by execution_id (execution,
event, queue) names its execution_id, or is listed here with why Citus can still run it
(docs/scaling.md "Past one PostgreSQL"). A new query must be one or the other."""

from __future__ import annotations

import re
from pathlib import Path

from noetl_pg.store.queries import parse_named_queries

QUERIES = Path(__file__).resolve().parents[2] / "noetl_pg" / "store" / "queries"
DISTRIBUTED = re.compile(r"\bnoetl\.(execution|event|queue)\b")
NAMES_EXECUTION = re.compile(r"\bexecution_id\s*(=|IN\b|=\s*ANY\b)", re.IGNORECASE)

INSERT = "insert: Citus routes each row by its execution_id"
READ = "read-only, no FOR UPDATE: Citus runs it on every shard and merges"
DDL = "partition DDL or the catalog: Citus propagates it to every shard"
BY_ID = "must change: finds a row by its own id alone; name the execution_id too"
LOOP = "must change: FOR UPDATE across the queue; one query per shard"

# query -> why it may stay as it is (or that it must change, and how)
ROUTING: dict[str, str] = {
    "lock_execution_id": "an advisory lock only: the table is named in the lock key",
    "insert_client_event": INSERT,
    "insert_commands": INSERT,
    "insert_engine_events": INSERT,
    "save_executions": INSERT,
    "restore_execution": INSERT,
    "executions_per_status": READ,
    "child_executions": READ + " (by parent_execution_id)",
    "workers_seen": READ,
    "recent_activity": READ,
    "newest_unapplied_event": READ,
    "describe_command": READ,
    "claim_executions": READ + "; then the advisory lock on the execution's shard",
    "list_executions": READ,
    "queue_depth": READ,
    "database_health": READ,
    "next_available_delay": READ,
    "keys_with_queued": READ,
    "drain_status": READ,
    "ensure_event_partitions": DDL,
    "expired_event_partitions": DDL,
    "mark_events_processed": BY_ID,
    "report_to_parent": BY_ID,
    "report_command": BY_ID,
    "heartbeat_leases": BY_ID,
    "release_leases": BY_ID,
    "park_wait": BY_ID,
    "lease_commands": LOOP,
    "enforce_step_limits": LOOP + " (a step's leases span executions: per shard, or a"
    " reference table of step leases)",
    "reclaim_expired_leases": LOOP + " (the maintenance leader, shard by shard)",
}


def _distributed_queries() -> dict[str, str]:
    found = {}
    for path in sorted(QUERIES.glob("*.sql")):
        for name, sql in parse_named_queries(path.read_text()).items():
            if DISTRIBUTED.search(sql):
                found[name] = sql
    return found


def test_every_query_names_its_execution_or_says_why_citus_can_route_it():
    unrouted = [
        name
        for name, sql in _distributed_queries().items()
        if not NAMES_EXECUTION.search(sql) and name not in ROUTING
    ]
    assert not unrouted, f"name the execution_id, or list in ROUTING with why: {unrouted}"


def test_the_list_holds_no_query_that_names_its_execution_or_no_longer_exists():
    queries = _distributed_queries()
    stale = [n for n in ROUTING if n not in queries or NAMES_EXECUTION.search(queries[n])]
    assert not stale, f"remove from ROUTING: {stale}"
