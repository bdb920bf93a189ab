"""Sub-playbooks end to end: real engine and worker processes, parent and child."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

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


@contextmanager
def _engine_and_worker(dsn: str, tmp_path) -> Iterator[None]:
    """A real engine and a real worker process for the duration of the block."""
    daemons = [
        start_daemon("engine", dsn, tmp_path, "--safety-interval", "1"),
        start_daemon("worker", dsn, tmp_path, "--safety-interval", "1"),
    ]
    try:
        yield
    finally:
        for daemon in daemons:
            terminate(daemon)


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
    with _engine_and_worker(dsn, tmp_path):
        _start(conn, "parent-ok", 2)
        _start(conn, "parent-bad", 50)
        wait_until(
            lambda: (
                _status(conn, "parent-ok") in ("completed", "failed")
                and _status(conn, "parent-bad") in ("completed", "failed")
            ),
            timeout=90,
        )
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
    with _engine_and_worker(dsn, tmp_path):
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


# --- a child that fails outside its rules still tells its parent ------------------------

# PostgreSQL's jsonb refuses a NUL character: this child's effects cannot be stored, so the
# engine quarantines it (fails it from its stored state in a fresh transaction).
UNSTORABLE_CHILD = """
apiVersion: noetl.io/v2
kind: Playbook
metadata: {name: unstorable_child, path: tests/unstorable_child}
workflow:
  - step: start
    tool: {kind: noop}
    case:
      - when: "{{ event.name == 'step.enter' }}"
        then: {set: {ctx: {bad: "{{ '%c' % 0 }}"}}}
"""


def _parent_of(child_path: str) -> str:
    return f"""
apiVersion: noetl.io/v2
kind: Playbook
metadata: {{name: parent_of_child, path: tests/parent_of/{child_path}}}
workflow:
  - step: start
    tool: {{kind: playbook, path: {child_path}}}
    next: end
  - step: end
    tool: {{kind: noop}}
"""


def _run_parent_of(conn, dsn, tmp_path, child_path: str) -> tuple[dict, dict]:
    """Start the parent of `child_path` with real engine and worker processes; the parent's
    and the child's execution rows once the parent has ended."""
    register_playbook(conn, _parent_of(child_path))
    with _engine_and_worker(dsn, tmp_path):
        conn.execute(
            "INSERT INTO noetl.event (execution_id, event_type, payload)"
            " VALUES ('parent', 'workflow.start', %s::jsonb)",
            [f'{{"path": "tests/parent_of/{child_path}"}}'],
        )
        wait_until(
            lambda: _status(conn, "parent") in ("completed", "failed", "cancelled"),
            "the parent ends",
            timeout=60,
        )
    rows = conn.execute(
        "SELECT execution_id, status, error, parent_execution_id FROM noetl.execution"
    ).fetchall()
    by_role = {"parent" if r["parent_execution_id"] is None else "child": r for r in rows}
    return by_role["parent"], by_role["child"]


def _assert_nothing_left_waiting(conn) -> None:
    left = conn.execute(
        "SELECT execution_id, step, status FROM noetl.queue"
        " WHERE status IN ('waiting', 'leased', 'pending')"
    ).fetchall()
    assert left == []


def _assert_child_failed_visibly(conn, child: dict) -> None:
    failed = conn.execute(
        "SELECT payload FROM noetl.event WHERE execution_id = %s"
        " AND event_type = 'workflow.failed'",
        [child["execution_id"]],
    ).fetchall()
    assert [e["payload"]["error"] for e in failed] == [child["error"]]
    parent_call = conn.execute(
        "SELECT status, payload FROM noetl.event WHERE execution_id = 'parent'"
        " AND event_type = 'call.done'"
    ).fetchone()
    assert parent_call["status"] == "error"
    assert parent_call["payload"]["error"]["kind"] == "child_failed"
    assert child["error"] in parent_call["payload"]["error"]["message"]


def test_a_child_whose_effects_cannot_be_stored_fails_its_parents_step(dsn, conn, tmp_path):
    register_playbook(conn, UNSTORABLE_CHILD)
    parent, child = _run_parent_of(conn, dsn, tmp_path, "tests/unstorable_child")
    assert child["status"] == "failed"
    assert "could not store" in child["error"]
    assert "\\u0000 cannot be converted" in child["error"]
    assert parent["status"] == "failed"
    assert "step 'start'" in parent["error"]
    assert child["error"] in parent["error"]
    _assert_child_failed_visibly(conn, child)
    _assert_nothing_left_waiting(conn)


def test_a_child_the_engine_cannot_apply_fails_its_parents_step(dsn, conn, tmp_path):
    """An exception inside the engine (here: a registered version that no longer parses)
    fails the child as any failure does, and the parent hears of it."""
    conn.execute(
        "INSERT INTO noetl.playbook (path, version, name, yaml, spec, content_hash)"
        " VALUES ('tests/broken_child', 1, 'broken_child', 'workflow: [unclosed', '{}', 'x')"
    )
    parent, child = _run_parent_of(conn, dsn, tmp_path, "tests/broken_child")
    assert child["status"] == "failed"
    assert "internal engine error applying workflow.start" in child["error"]
    assert "tests/broken_child@1 is invalid" in child["error"]
    assert parent["status"] == "failed"
    assert child["error"] in parent["error"]
    _assert_child_failed_visibly(conn, child)
    _assert_nothing_left_waiting(conn)
