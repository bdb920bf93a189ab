"""A secret reaches the tool that needs it and nothing else: not an event, a queue row, an
execution row, a log line of any daemon, nor any API answer — even when the tool returns
it or fails with it in the message (docs/security.md)."""

from __future__ import annotations

from tests.integration.gateway.support import register
from tests.integration.gateway.test_processes import wait_for_status
from tests.support.processes import start_daemon, terminate, wait_until

SECRET = "s3cr3t-Zq81-value"

LEAKY = """\
apiVersion: noetl.io/v2
kind: Playbook
metadata: {name: leaky, path: tests/leaky}
workflow:
  - step: start
    args:
      key: "{{ secret.API_KEY }}"
    tool:
      kind: python
      code: |
        def main(key):
            print("the key is", key)
            return {"echo": key, "length": len(key)}
    next: boom
  - step: boom
    args:
      key: "{{ secret.API_KEY }}"
    tool:
      kind: python
      code: |
        def main(key):
            raise ValueError("bad key " + key)
"""


def test_a_secret_never_leaves_the_tool(dsn, conn, tmp_path, start_gateway):
    logs = tmp_path / "logs"
    env = {"NOETL_SECRET_API_KEY": SECRET}
    daemons = [start_daemon("engine", dsn, logs), start_daemon("worker", dsn, logs, **env)]
    try:
        api = start_gateway()
        register(api, LEAKY)
        started = api.post(
            "/api/v2/events",
            params={"wait": 0},
            json={"name": "workflow.start", "path": "tests/leaky"},
        ).json()
        execution_id = started["execution_id"]
        state = wait_for_status(api, execution_id, {"failed"})
        answers = [
            api.get(f"/api/v2/executions/{execution_id}").text,
            api.get(f"/api/v2/executions/{execution_id}/events").text,
            api.get(f"/api/v2/executions/{execution_id}/commands").text,
            api.get("/api/v2/executions").text,
            api.get("/api/v2/queue").text,
        ]
    finally:
        for daemon in daemons:
            terminate(daemon)

    assert state["step_results"]["start"]["length"] == len(SECRET)  # the tool did get it
    assert "bad key" in (state["error"] or "")
    for answer in answers:
        assert SECRET not in answer
    for table in ("event", "queue", "execution"):
        rows = conn.execute(f"SELECT row_to_json(t)::text AS row FROM noetl.{table} t").fetchall()
        assert rows and not any(SECRET in row["row"] for row in rows), table
    wait_until(lambda: len(list(logs.iterdir())) == 2, "both daemon logs written")
    for log in logs.iterdir():
        assert SECRET not in log.read_text(errors="replace"), log.name


def test_a_returned_secret_is_stored_as_a_marker(dsn, conn, tmp_path, start_gateway):
    """Redaction keeps the shape a person debugs with: where the value was, not what."""
    api = start_gateway()
    register(api, LEAKY)
    worker = start_daemon("worker", dsn, tmp_path, NOETL_SECRET_API_KEY=SECRET)
    engine = start_daemon("engine", dsn, tmp_path)
    try:
        execution_id = api.post(
            "/api/v2/events",
            params={"wait": 0},
            json={"name": "workflow.start", "path": "tests/leaky"},
        ).json()["execution_id"]
        wait_for_status(api, execution_id, {"failed"})
    finally:
        terminate(worker)
        terminate(engine)
    echoed = conn.execute(
        "SELECT payload -> 'response' ->> 'echo' AS echo FROM noetl.event"
        " WHERE execution_id = %s AND event_type = 'call.done' AND node_name = 'start'",
        [execution_id],
    ).fetchone()["echo"]
    assert echoed == "[secret]"
