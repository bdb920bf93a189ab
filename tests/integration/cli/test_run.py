"""`noetl-pg run`: failures, --json, bad input, --timeout, Ctrl-C, --gateway with `dev`."""

from __future__ import annotations

import json
import signal
import subprocess
from pathlib import Path

import httpx

from noetl_pg.store.db import connect
from tests.integration.cli.conftest import (
    DEADLINE,
    ROOT,
    cli_env,
    noetl,
    noetl_command,
    printed_result,
    spawn,
)

FAILING = """\
apiVersion: noetl.io/v2
kind: Playbook
metadata: {name: boom, path: tests/boom}
workflow:
  - step: start
    tool: {kind: noop}
    next: explode
  - step: explode
    tool:
      kind: python
      code: |
        def main():
            raise ValueError("kaboom")
    next: end
  - step: end
    tool: {kind: noop}
"""

SLOW = """\
apiVersion: noetl.io/v2
kind: Playbook
metadata: {name: slow, path: tests/slow}
workflow:
  - step: start
    tool:
      kind: python
      code: |
        import time
        def main():
            time.sleep(600)
"""


def write(tmp_path: Path, name: str, text: str) -> str:
    path = tmp_path / name
    path.write_text(text)
    return str(path)


def status_of(dsn: str, execution_id: str) -> str:
    with connect(dsn, autocommit=True) as conn:
        row = conn.execute(
            "SELECT status FROM noetl.execution WHERE execution_id = %s", [execution_id]
        ).fetchone()
    return row["status"]


def test_a_failing_playbook_exits_1_with_the_step_and_error(dsn, tmp_path):
    done = noetl("run", write(tmp_path, "boom.yaml", FAILING), dsn=dsn)

    assert done.returncode == 1
    assert "explode: failed in " in done.stdout
    assert "ValueError: kaboom" in done.stdout
    assert "failed: step 'explode': ValueError: kaboom at line 2" in done.stdout
    assert "end: started" not in done.stdout


def test_json_prints_only_the_final_document(dsn, tmp_path):
    ok = noetl("run", "examples/hello.yaml", "--json", dsn=dsn)
    failed = noetl("run", write(tmp_path, "boom.yaml", FAILING), "--json", dsn=dsn)

    assert ok.returncode == 0
    document = json.loads(ok.stdout)
    assert set(document) == {"execution_id", "status", "result", "error", "warnings"}
    assert document["warnings"] == []
    assert document["status"] == "completed"
    assert document["result"] == {"greeting": "hello, world!"}
    assert status_of(dsn, document["execution_id"]) == "completed"

    assert failed.returncode == 1
    document = json.loads(failed.stdout)
    assert document["status"] == "failed"
    assert document["error"] == "step 'explode': ValueError: kaboom at line 2"


# A `when` that raises (`response.data` has no `hasMore`): counted as false, so the run
# completes; the warning must still reach the person who ran it.
RAISING_WHEN = """\
apiVersion: noetl.io/v2
kind: Playbook
metadata: {name: pages, path: tests/pages}
workflow:
  - step: start
    tool:
      kind: python
      code: |
        def main():
            return {"data": {"items": [1]}}
    case:
      - when: "{{ response.data.hasMore.next }}"
        then: {next: start}
    next: end
  - step: end
    tool: {kind: noop}
"""


def test_a_when_that_raised_is_a_warning_of_run_status_and_json(dsn, tmp_path):
    path = write(tmp_path, "pages.yaml", RAISING_WHEN)
    done = noetl("run", path, dsn=dsn)
    as_json = json.loads(noetl("run", path, "--json", dsn=dsn).stdout)

    assert done.returncode == 0
    assert "warning: when: step 'start', case 0 on call.done:" in done.stderr
    assert "hasMore" in done.stderr
    on_call_done = [w for w in as_json["warnings"] if "on call.done" in w["message"]]
    assert [(w["kind"], w["step"], w["event"]) for w in on_call_done] == [
        ("when", "start", "call.done")
    ]
    assert "'dict object' has no attribute 'hasMore'" in on_call_done[0]["message"]
    status = noetl("status", as_json["execution_id"], dsn=dsn)
    assert "warning     when: step 'start'" in status.stdout
    events = noetl("events", as_json["execution_id"], dsn=dsn)
    assert "WARNING: step 'start', case 0 on call.done" in events.stdout


def test_an_invalid_playbook_is_reported_with_file_and_line(dsn, tmp_path):
    path = write(tmp_path, "bad.yaml", FAILING.replace("next: end", "next: ned"))
    done = noetl("run", path, dsn=dsn)
    assert done.returncode == 2
    assert f"{path}:" in done.stderr and "ned" in done.stderr


def test_bad_input_exits_2(dsn, tmp_path):
    assert noetl("run", str(tmp_path / "missing.yaml"), dsn=dsn).returncode == 2
    bad_set = noetl("run", "examples/hello.yaml", "--set", "no-equals-sign", dsn=dsn)
    assert bad_set.returncode == 2
    assert "KEY=VALUE" in bad_set.stderr


def test_timeout_cancels_the_execution_and_exits_1(dsn, tmp_path):
    done = noetl("run", write(tmp_path, "slow.yaml", SLOW), "--timeout", "1", "--json", dsn=dsn)
    assert done.returncode == 1
    document = json.loads(done.stdout)
    assert document["status"] == "cancelled"
    assert "timed out" in document["error"]
    assert status_of(dsn, document["execution_id"]) == "cancelled"


def test_ctrl_c_cancels_stops_cleanly_and_exits_130(dsn, tmp_path):
    process = subprocess.Popen(
        [*noetl_command(), "run", write(tmp_path, "slow.yaml", SLOW)],
        env=cli_env(dsn),
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert process.stdout is not None
    header = process.stdout.readline()
    execution_id = header.split(" as ")[1].split()[0]
    for line in process.stdout:
        if "start: started" in line:
            break
    process.send_signal(signal.SIGINT)
    rest, errors = process.communicate(timeout=DEADLINE)

    assert process.returncode == 130, errors
    assert "cancelled" in rest
    assert "Traceback" not in errors
    assert status_of(dsn, execution_id) == "cancelled"


def test_dev_serves_the_gateway_and_run_uses_it(dsn):
    dev = spawn("dev", "--port", "0", dsn=dsn)
    try:
        assert dev.stdout is not None
        url = None
        for line in dev.stdout:
            if line.strip().startswith("gateway"):
                url = line.split()[1]
                break
        assert url and url.startswith("http://127.0.0.1:")
        console = next(dev.stdout).split()
        assert console[:2] == ["console", f"{url}/ui/"]
        assert httpx.get(console[1]).status_code == 200

        # No usable database: with --gateway the command only talks HTTP.
        unreachable = "postgresql://127.0.0.1:1/nothing?connect_timeout=1"
        done = noetl("run", "--gateway", url, "examples/python_pipeline.yaml", dsn=unreachable)

        assert done.returncode == 0, done.stderr
        assert f"(gateway: {url})" in done.stdout
        assert printed_result(done.stdout) == {"report": {"label": "high", "total": 31}}
    finally:
        dev.send_signal(signal.SIGTERM)
        rest, errors = dev.communicate(timeout=DEADLINE)
    assert dev.returncode == 0, errors
    assert "noetl-pg dev: stopped" in rest
    assert "Traceback" not in errors


DUCK = """\
apiVersion: noetl.io/v2
kind: Playbook
metadata: {name: duck, path: tests/duck}
workload: {n: 41}
workflow:
  - step: start
    tool:
      kind: duckdb
      query: SELECT $n + 1 AS answer
      params: {n: "{{ workload.n }}"}
    next: end
  - step: end
    tool:
      kind: python
      code: |
        def main(input_data):
            return input_data
    args: {answer: "{{ start.rows[0].answer }}"}
"""


def test_a_duckdb_step_feeds_a_python_main_of_the_whole_mapping(dsn, tmp_path):
    done = noetl("run", write(tmp_path, "duck.yaml", DUCK), dsn=dsn)
    assert done.returncode == 0, done.stdout + done.stderr
    assert printed_result(done.stdout) == {"answer": 42}
