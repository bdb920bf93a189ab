"""What a new user types first: --version, exit codes, start --wait/--follow/--id,
events --follow, ps --path, playbooks list|show, db start|stop|status."""

from __future__ import annotations

import json
import subprocess
from importlib import metadata

from noetl_pg.store.embedded import server_dir
from tests.integration.cli.conftest import DEADLINE, ROOT, cli_env, noetl, spawn


def stop(process: subprocess.Popen[str]) -> str:
    process.terminate()
    out, _ = process.communicate(timeout=DEADLINE)
    return out


def test_version_and_exit_codes_in_help(dsn):
    version = noetl("--version", dsn=dsn)
    assert version.returncode == 0
    assert version.stdout.strip() == f"noetl-pg {metadata.version('noetl-pg')}"
    helped = noetl("--help", dsn=dsn).stdout
    for code in ("0 ", "1 ", "2 ", "3 ", "130", "143"):
        assert f"\n  {code}" in helped
    assert "NOETL_LOG_LEVEL" in helped


def test_not_found_is_3_and_bad_usage_is_2(dsn):
    assert noetl("status", "exec-nope", dsn=dsn).returncode == 3
    assert noetl("events", "exec-nope", dsn=dsn).returncode == 3
    assert noetl("start", "no/such/playbook", dsn=dsn).returncode == 3
    shown = noetl("playbooks", "show", "no/such/playbook", dsn=dsn)
    assert shown.returncode == 3 and "no playbook 'no/such/playbook'" in shown.stderr
    assert noetl("start", "x", "--set", "novalue", dsn=dsn).returncode == 2
    assert noetl("ps", "--limit", "many", dsn=dsn).returncode == 2
    unreachable = "postgresql://127.0.0.1:1/nothing?connect_timeout=1"
    assert noetl("ps", dsn=unreachable).returncode == 3


def test_playbooks_list_and_show(dsn):
    assert noetl("register", "examples/hello.yaml", dsn=dsn).returncode == 0
    listed = noetl("playbooks", "list", dsn=dsn)
    assert listed.returncode == 0 and "examples/hello" in listed.stdout
    [row] = json.loads(noetl("playbooks", "list", "--json", dsn=dsn).stdout)
    assert (row["path"], row["version"]) == ("examples/hello", 1)
    shown = noetl("playbooks", "show", "examples/hello", dsn=dsn)
    assert shown.stdout == (ROOT / "examples/hello.yaml").read_text()
    as_json = json.loads(noetl("playbooks", "show", "examples/hello", "--json", dsn=dsn).stdout)
    assert as_json["version"] == 1 and as_json["yaml"] == shown.stdout


def test_start_with_id_wait_follow_and_events_follow_and_ps_path(dsn):
    assert noetl("register", "examples/hello.yaml", dsn=dsn).returncode == 0
    # Before any engine runs: `events --follow` is waiting for the ending.
    pending = noetl("start", "examples/hello", "--id", "exec-cli-follow", dsn=dsn)
    assert pending.stdout.strip() == "exec-cli-follow"
    follower = spawn("events", "exec-cli-follow", "--follow", dsn=dsn)
    running = spawn("dev", "--port", "0", dsn=dsn)  # a real engine and worker
    try:
        waited = noetl("start", "examples/hello", "--id", "exec-cli-wait", "--wait", dsn=dsn)
        followed = noetl("start", "examples/hello", "--follow", "--set", "name=ada", dsn=dsn)
        as_json = noetl("start", "examples/hello", "--wait", "--json", dsn=dsn)
        followed_events, _ = follower.communicate(timeout=DEADLINE)
    finally:
        stop(running)
        if follower.poll() is None:
            follower.kill()

    assert waited.returncode == 0, waited.stderr
    assert "result:" in waited.stdout and "start: started" not in waited.stdout
    assert followed.returncode == 0, followed.stderr
    assert "start: completed in " in followed.stdout
    assert '"greeting": "hello, ada!"' in followed.stdout
    document = json.loads(as_json.stdout)
    assert document["status"] == "completed"
    assert follower.returncode == 0
    names = [line.split()[2] for line in followed_events.splitlines()[1:]]
    assert names[0] == "workflow.start" and names[-1] == "workflow.complete"

    mine = json.loads(noetl("ps", "--path", "examples/hello", "--json", dsn=dsn).stdout)
    assert {"exec-cli-wait", "exec-cli-follow"} <= {row["execution_id"] for row in mine}
    assert json.loads(noetl("ps", "--path", "other/path", "--json", dsn=dsn).stdout) == []
    again = noetl("start", "examples/hello", "--id", "exec-cli-wait", dsn=dsn)
    assert again.returncode == 1 and "already started" in again.stderr


def test_db_start_status_stop_of_the_embedded_server(tmp_path):
    tmp_path.chmod(0o755)  # the server may run as another user; it must reach its home
    env = cli_env(None, NOETL_HOME=str(tmp_path / "home"))
    try:
        started = noetl("db", "start", dsn=None, env=env)
        assert started.returncode == 0, started.stderr
        assert f"data: {server_dir(tmp_path / 'home') / 'pgdata'}" in started.stdout
        password = (tmp_path / "home" / "password").read_text().strip()
        assert password not in started.stdout
        status = json.loads(noetl("db", "status", "--json", dsn=None, env=env).stdout)
        assert status["running"] is True and status["database"] == "embedded"
        assert status["schema_version"] is not None
    finally:
        stopped = noetl("db", "stop", dsn=None, env=env)
    assert stopped.returncode == 0 and "stopped the embedded PostgreSQL" in stopped.stdout
    after = noetl("db", "status", dsn=None, env=env)
    assert after.returncode == 3 and "not running" in after.stdout
    assert "no embedded PostgreSQL running" in noetl("db", "stop", dsn=None, env=env).stdout


def test_db_start_refuses_when_noetl_dsn_is_set(dsn):
    refused = noetl("db", "start", dsn=dsn)
    assert refused.returncode == 2 and "NOETL_DSN is set" in refused.stderr
