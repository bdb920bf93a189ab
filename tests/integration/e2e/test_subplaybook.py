"""Sub-playbooks end to end: real engine and worker processes, parent and child."""

from __future__ import annotations

from tests.support.catalog import register_playbook
from tests.support.processes import start_daemon, terminate, wait_until

CHILD = """
apiVersion: noetl.io/v2
kind: Playbook
metadata: {name: child, path: tests/child}
workload: {x: 0}
workflow:
  - step: start
    tool: {kind: python, code: "def main(x): return {'y': x * 10}"}
    args: {x: "{{ workload.x }}"}
    case:
      - when: "{{ event.name == 'call.done' and response.y > 100 }}"
        then: {fail: {message: "too big: {{ response.y }}"}}
"""

PARENT = """
apiVersion: noetl.io/v2
kind: Playbook
metadata: {name: parent, path: tests/parent}
workload: {x: 2}
workflow:
  - step: start
    tool: {kind: playbook, path: tests/child, args: {x: "{{ workload.x }}"}}
    next: end
  - step: end
    args: {got: "{{ start.y }}"}
    tool: {kind: noop}
"""


def _start(conn, execution_id: str, x: int) -> None:
    conn.execute(
        "INSERT INTO noetl.event (execution_id, event_type, payload) VALUES"
        " (%s, 'workflow.start', jsonb_build_object('path', 'tests/parent',"
        " 'workload', jsonb_build_object('x', %s::int)))",
        [execution_id, x],
    )


def _status(conn, execution_id: str) -> str | None:
    row = conn.execute(
        "SELECT status FROM noetl.execution WHERE execution_id = %s", [execution_id]
    ).fetchone()
    return row["status"] if row else None


def test_parent_waits_for_child_and_uses_its_result_or_its_failure(dsn, conn, tmp_path):
    register_playbook(conn, CHILD)
    register_playbook(conn, PARENT)
    daemons = [
        start_daemon("engine", dsn, tmp_path, "--safety-interval", "1"),
        start_daemon("worker", dsn, tmp_path, "--safety-interval", "1"),
    ]
    try:
        _start(conn, "parent-ok", 2)
        _start(conn, "parent-bad", 50)
        wait_until(
            lambda: (
                _status(conn, "parent-ok") in ("completed", "failed")
                and _status(conn, "parent-bad") in ("completed", "failed")
            ),
            timeout=90,
        )
    finally:
        for daemon in daemons:
            terminate(daemon)
    ok = conn.execute(
        "SELECT status, result FROM noetl.execution WHERE execution_id = 'parent-ok'"
    ).fetchone()
    assert (ok["status"], ok["result"]) == ("completed", {"got": 20})
    child = conn.execute(
        "SELECT status, result, parent_execution_id FROM noetl.execution"
        " WHERE parent_execution_id = 'parent-ok'"
    ).fetchone()
    assert (child["status"], child["result"]) == ("completed", {"y": 20})
    bad = conn.execute(
        "SELECT status, error FROM noetl.execution WHERE execution_id = 'parent-bad'"
    ).fetchone()
    assert bad["status"] == "failed"
    assert "too big: 500" in bad["error"]
    waiting = conn.execute(
        "SELECT count(*) AS n FROM noetl.queue WHERE status IN ('waiting', 'leased', 'pending')"
    ).fetchone()
    assert waiting["n"] == 0


SLOW_CHILD = """
apiVersion: noetl.io/v2
kind: Playbook
metadata: {name: slow_child, path: tests/slow_child}
workflow:
  - step: start
    tool: {kind: python, code: "import time\\ndef main():\\n    time.sleep(3)\\n    return 1"}
    next: end
  - step: end
    tool: {kind: noop}
"""

SLOW_PARENT = """
apiVersion: noetl.io/v2
kind: Playbook
metadata: {name: slow_parent, path: tests/slow_parent}
workflow:
  - step: start
    tool: {kind: playbook, path: tests/slow_child}
"""


def test_cancelling_a_parent_cancels_its_running_child(dsn, conn, tmp_path):
    register_playbook(conn, SLOW_CHILD)
    register_playbook(conn, SLOW_PARENT)
    daemons = [
        start_daemon("engine", dsn, tmp_path, "--safety-interval", "1"),
        start_daemon("worker", dsn, tmp_path, "--safety-interval", "1"),
    ]
    try:
        conn.execute(
            "INSERT INTO noetl.event (execution_id, event_type, payload)"
            " VALUES ('slow-parent', 'workflow.start', '{\"path\": \"tests/slow_parent\"}')"
        )
        wait_until(lambda: _child(conn) is not None, timeout=60)
        conn.execute(
            "INSERT INTO noetl.event (execution_id, event_type, payload)"
            " VALUES ('slow-parent', 'workflow.cancel', '{\"reason\": \"enough\"}')"
        )
        wait_until(lambda: (_child(conn) or {}).get("status") == "cancelled", timeout=60)
    finally:
        for daemon in daemons:
            terminate(daemon)
    assert _status(conn, "slow-parent") == "cancelled"
    child = _child(conn)
    assert "slow-parent" in child["error"]
    parked = conn.execute(
        "SELECT status FROM noetl.queue WHERE execution_id = 'slow-parent'"
    ).fetchone()
    assert parked["status"] == "cancelled"
    # The child never went on to its next step.
    ends = conn.execute(
        "SELECT count(*) AS n FROM noetl.queue WHERE execution_id = %s AND step = 'end'",
        [child["execution_id"]],
    ).fetchone()
    assert ends["n"] == 0


def _child(conn) -> dict | None:
    return conn.execute(
        "SELECT execution_id, status, error FROM noetl.execution"
        " WHERE parent_execution_id = 'slow-parent'"
    ).fetchone()
