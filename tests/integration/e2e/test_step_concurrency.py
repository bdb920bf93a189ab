"""Step `concurrency: {limit}` with real processes: two workers with free slots and two
executions of a parallel loop never hold more than `limit` commands of the step at once
(counted from the queue rows' lease and finish times), and everything completes."""

from __future__ import annotations

from tests.chaos.support import running_cluster
from tests.integration.e2e.test_concurrency import most_running_at_once, start
from tests.support.catalog import register_playbook
from tests.support.processes import wait_until

LIMITED_STEP = """
apiVersion: noetl.io/v2
kind: Playbook
metadata: {name: limited_step, path: tests/limited_step}
workload: {items: [1, 2, 3, 4, 5]}
workflow:
  - step: start
    loop: {in: "{{ workload.items }}", iterator: x, mode: parallel}
    concurrency: {limit: 2}
    args: {x: "{{ x }}"}
    tool:
      kind: python
      code: |
        import time
        def main(x):
            time.sleep(0.3)
            return {"x": x}
"""


def test_a_step_limit_holds_across_executions_and_workers(dsn, conn, tmp_path):
    register_playbook(conn, LIMITED_STEP)
    ids = ["exec-s1", "exec-s2"]
    with running_cluster(
        dsn, tmp_path, engines=1, workers=2, gateway=False, safety_interval=0.5, concurrency=4
    ):
        for execution_id in ids:
            start(conn, execution_id, "tests/limited_step")
        wait_until(
            lambda: (
                conn.execute(
                    "SELECT count(*) AS n FROM noetl.execution"
                    " WHERE execution_id = ANY(%s) AND status = 'completed'",
                    [ids],
                ).fetchone()["n"]
                == 2
            ),
            "both executions complete",
        )
    commands = conn.execute(
        "SELECT started_at AS admitted_at, completed_at AS finished_at,"
        "       status, step_key, step_limit"
        " FROM noetl.queue WHERE execution_id = ANY(%s)",
        [ids],
    ).fetchall()
    assert len(commands) == 10
    assert {(c["status"], c["step_key"], c["step_limit"]) for c in commands} == {
        ("done", "tests/limited_step:start", 2)
    }
    assert most_running_at_once(commands) == 2
