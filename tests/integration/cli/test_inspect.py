"""`noetl-pg register / start / status / events / ps / cancel`, on the test's database."""

from __future__ import annotations

import asyncio
import json

from noetl_pg.engine.daemon import Engine
from tests.integration.cli.conftest import noetl


def run_json(dsn: str, *args: str) -> dict:
    done = noetl("run", *args, "--json", dsn=dsn)
    return json.loads(done.stdout)


def test_register_start_status_cancel(dsn):
    registered = noetl("register", "examples/hello.yaml", dsn=dsn)
    again = noetl("register", "examples/hello.yaml", dsn=dsn)
    assert registered.returncode == 0, registered.stderr
    assert "examples/hello version 1: registered" in registered.stdout
    assert "examples/hello version 1: unchanged" in again.stdout

    started = noetl("start", "examples/hello", "--set", "name=ada", dsn=dsn)
    assert started.returncode == 0, started.stderr
    execution_id = started.stdout.strip()
    assert execution_id.startswith("exec-")

    # No engine runs yet: the execution is pending, its start event waiting.
    status = noetl("status", execution_id, dsn=dsn)
    assert status.returncode == 0
    assert "status      pending" in status.stdout
    events = noetl("events", execution_id, "--json", dsn=dsn)
    (start,) = [json.loads(line) for line in events.stdout.splitlines()]
    assert start["name"] == "workflow.start"
    assert start["payload"] == {"path": "examples/hello", "workload": {"name": "ada"}}

    cancel = noetl("cancel", execution_id, "--reason", "changed my mind", dsn=dsn)
    assert cancel.returncode == 0, cancel.stderr
    assert f"cancel requested for {execution_id}" in cancel.stdout

    # An engine applies what the CLI wrote: the start, then the cancel.
    asyncio.run(Engine(dsn).run_until_idle())
    state = json.loads(noetl("status", execution_id, "--json", dsn=dsn).stdout)
    assert state["status"] == "cancelled"
    assert state["path"] == "examples/hello"

    finished = noetl("cancel", execution_id, dsn=dsn)
    assert finished.returncode == 1
    assert "already cancelled" in finished.stderr


def test_status_events_and_ps_of_finished_executions(dsn, tmp_path):
    ok = run_json(dsn, "examples/hello.yaml")
    bad_file = tmp_path / "boom.yaml"
    bad_file.write_text(
        "apiVersion: noetl.io/v2\nkind: Playbook\nmetadata: {name: boom, path: tests/boom}\n"
        "workflow:\n  - step: start\n    tool:\n      kind: python\n"
        "      code: |\n        def main():\n            raise ValueError('kaboom')\n"
    )
    failed = run_json(dsn, str(bad_file))

    status = noetl("status", ok["execution_id"], dsn=dsn)
    assert status.returncode == 0
    assert "status      completed" in status.stdout
    assert "playbook    examples/hello v1" in status.stdout
    assert '"greeting": "hello, world!"' in status.stdout
    assert "steps done  end, start" in status.stdout

    failed_status = noetl("status", failed["execution_id"], dsn=dsn)
    assert "status      failed" in failed_status.stdout
    assert "error       step 'start': ValueError: kaboom at line 2" in failed_status.stdout

    timeline = noetl("events", ok["execution_id"], dsn=dsn).stdout.splitlines()
    names = [line.split()[2] for line in timeline[1:]]
    assert names[0] == "workflow.start" and names[-1] == "workflow.complete"
    assert names.count("step.enter") == 2 and names.count("step.exit") == 2
    assert timeline[1].lstrip().startswith("+0.000s")

    listed = noetl("ps", dsn=dsn).stdout
    assert ok["execution_id"] in listed and failed["execution_id"] in listed
    only_failed = noetl("ps", "--status", "failed", dsn=dsn).stdout
    assert failed["execution_id"] in only_failed and ok["execution_id"] not in only_failed
    assert len(json.loads(noetl("ps", "--limit", "1", "--json", dsn=dsn).stdout)) == 1


def test_unknown_things_exit_3_with_a_message(dsn):
    for args in (["status", "exec-nope"], ["events", "exec-nope"], ["cancel", "exec-nope"]):
        done = noetl(*args, dsn=dsn)
        assert done.returncode == 3
        assert "exec-nope" in done.stderr
    start = noetl("start", "no/such/playbook", dsn=dsn)
    assert start.returncode == 3
    assert "no playbook 'no/such/playbook' is registered" in start.stderr
