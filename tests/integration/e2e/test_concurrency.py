"""Playbook `concurrency` with real processes (two engines, a worker): five executions
with `concurrency: {key: same, limit: 2}` never have more than two running, counted from
the rows' timestamps (admitted_at .. finished_at), start in arrival order, and all
complete; a templated key keeps different keys apart."""

from __future__ import annotations

import json

from tests.chaos.support import running_cluster
from tests.support.catalog import register_playbook
from tests.support.processes import wait_until

LIMITED = """
apiVersion: noetl.io/v2
kind: Playbook
metadata: {name: limited, path: tests/limited}
concurrency: {key: same, limit: 2}
workflow:
  - step: start
    tool: {kind: wait, seconds: 0.5}
"""
PER_TENANT = """
apiVersion: noetl.io/v2
kind: Playbook
metadata: {name: per_tenant, path: tests/per_tenant}
concurrency: {key: "tenant-{{ workload.tenant }}", limit: 1}
workflow:
  - step: start
    tool: {kind: wait, seconds: 0.5}
"""


def start(conn, execution_id: str, path: str, workload: dict | None = None) -> None:
    conn.execute(
        "INSERT INTO noetl.event (execution_id, event_type, payload) VALUES (%s, 'workflow.start',"
        " jsonb_build_object('path', %s::text, 'workload', %s::jsonb))",
        [execution_id, path, json.dumps(workload or {})],
    )


def rows(conn, ids: list[str]):
    return conn.execute(
        "SELECT execution_id, status, concurrency_key, admitted_at, finished_at, queued_seq"
        " FROM noetl.execution WHERE execution_id = ANY(%s) ORDER BY queued_seq",
        [ids],
    ).fetchall()


def most_running_at_once(found) -> int:
    """The largest number of [admitted_at, finished_at) spans that overlap."""
    edges = sorted(
        [(r["admitted_at"], 1) for r in found] + [(r["finished_at"], -1) for r in found],
        key=lambda edge: (edge[0], edge[1]),  # an end before a start at the same instant
    )
    running = peak = 0
    for _, step in edges:
        running += step
        peak = max(peak, running)
    return peak


def test_five_executions_with_limit_two_never_run_more_than_two(dsn, conn, tmp_path):
    register_playbook(conn, LIMITED)
    ids = [f"exec-c{i}" for i in range(5)]
    with running_cluster(dsn, tmp_path, engines=2, workers=1, gateway=False, safety_interval=0.5):
        for execution_id in ids:
            start(conn, execution_id, "tests/limited")
        wait_until(
            lambda: [r["status"] for r in rows(conn, ids)] == ["completed"] * len(ids),
            "all five complete",
        )
    found = rows(conn, ids)
    assert [r["concurrency_key"] for r in found] == ["same"] * 5
    assert all(r["admitted_at"] is not None for r in found)
    assert most_running_at_once(found) == 2
    admitted = sorted(found, key=lambda r: r["admitted_at"])
    assert [r["execution_id"] for r in admitted] == [r["execution_id"] for r in found]  # FIFO
    statuses = conn.execute(
        "SELECT event_type FROM noetl.event WHERE execution_id = 'exec-c4' ORDER BY event_id"
    ).fetchall()
    names = [s["event_type"] for s in statuses]
    assert names[:3] == ["workflow.start", "workflow.queued", "workflow.admit"]
    assert names[-1] == "workflow.complete"


def test_a_templated_key_keeps_tenants_apart(dsn, conn, tmp_path):
    register_playbook(conn, PER_TENANT)
    starts = [("exec-a1", "a"), ("exec-a2", "a"), ("exec-b1", "b")]
    ids = [execution_id for execution_id, _ in starts]
    with running_cluster(dsn, tmp_path, engines=1, workers=1, gateway=False, safety_interval=0.5):
        for execution_id, tenant in starts:
            start(conn, execution_id, "tests/per_tenant", {"tenant": tenant})
        wait_until(
            lambda: [r["status"] for r in rows(conn, ids)] == ["completed"] * len(ids),
            "all three complete",
        )
    found = {r["execution_id"]: r for r in rows(conn, ids)}
    assert found["exec-a1"]["concurrency_key"] == "tenant-a"
    assert found["exec-b1"]["concurrency_key"] == "tenant-b"
    assert most_running_at_once([found["exec-a1"], found["exec-a2"]]) == 1
    # b did not wait for a's slot: it ran beside a1.
    assert found["exec-b1"]["admitted_at"] < found["exec-a1"]["finished_at"]
