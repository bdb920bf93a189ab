"""Re-run (DSL.md section 10) with an engine, a worker and a gateway: a failed
execution's re-run enters only the failed step, keeps the old step results, completes,
and leaves the old execution as it was."""

from __future__ import annotations

import subprocess
import sys

import httpx

from tests.chaos.support import running_cluster
from tests.integration.e2e.test_waits import ended
from tests.support.catalog import register_playbook
from tests.support.processes import wait_until

PLAYBOOK = """
apiVersion: noetl.io/v2
kind: Playbook
metadata: {name: rerun_me, path: tests/rerun_me}
workflow:
  - step: start
    args: {n: 7}
    tool: {kind: noop}
    next: check
  - step: check
    args: {path: "{{ workload.path }}"}
    tool:
      kind: python
      code: |
        import os
        def main(path):
            if not os.path.exists(path):
                raise ValueError("not there yet")
            return {"ok": True}
    next: end
  - step: end
    args: {n: "{{ start.n }}", ok: "{{ check.ok }}"}
    tool: {kind: noop}
"""


def enters(conn, execution_id: str) -> list[str]:
    rows = conn.execute(
        "SELECT node_name FROM noetl.event WHERE execution_id = %s AND event_type = 'step.enter'"
        " ORDER BY event_id",
        [execution_id],
    ).fetchall()
    return [r["node_name"] for r in rows]


def test_a_rerun_enters_only_the_failed_step_and_completes(dsn, conn, tmp_path):
    register_playbook(conn, PLAYBOOK)
    marker = tmp_path / "ready"
    with running_cluster(dsn, tmp_path, engines=1, workers=1, safety_interval=0.5) as cluster:
        conn.execute(
            "INSERT INTO noetl.event (execution_id, event_type, payload) VALUES ('old',"
            " 'workflow.start', jsonb_build_object('path', 'tests/rerun_me',"
            " 'workload', jsonb_build_object('path', %s::text)))",
            [str(marker)],
        )
        old = wait_until(lambda: ended(conn, "old"), "the first run fails")
        assert old["status"] == "failed"
        api = cluster.gateway_url
        refused = httpx.post(f"{api}/api/v2/executions/nobody/rerun")
        assert refused.status_code == 404
        marker.write_text("now")
        answer = httpx.post(f"{api}/api/v2/executions/old/rerun", json={})
        assert answer.status_code == 202, answer.text
        new_id = answer.json()["execution_id"]
        new = wait_until(lambda: ended(conn, new_id), "the re-run ends")
        assert (new["status"], new["result"]) == ("completed", {"n": 7, "ok": True}), new
        assert enters(conn, new_id) == ["check", "end"]
        again = httpx.post(f"{api}/api/v2/executions/{new_id}/rerun")
        assert again.status_code == 409 and "completed" in again.text
        # The CLI, from a named step.
        cli = subprocess.run(
            [sys.executable, "-m", "noetl_pg.cli", "rerun", "old", "--from-step", "check"],
            env={"NOETL_DSN": dsn, "PATH": "/usr/bin:/bin"},
            capture_output=True,
            text=True,
        )
        assert cli.returncode == 0, cli.stderr
        third = cli.stdout.strip()
        row = wait_until(lambda: ended(conn, third), "the CLI re-run ends")
        assert row["status"] == "completed" and enters(conn, third) == ["check", "end"]
        start = conn.execute(
            "SELECT payload->>'rerun_of' AS of FROM noetl.event"
            " WHERE execution_id = %s AND event_type = 'workflow.start'",
            [third],
        ).fetchone()
        assert start["of"] == "old"
    assert ended(conn, "old")["status"] == "failed"  # unchanged
