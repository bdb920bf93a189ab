"""`--allow-tools`: a worker runs only the kinds it lists; any other command fails with an
error that names the kind and the list, and its code never runs."""

from __future__ import annotations

import subprocess
import sys

from noetl_pg.worker.allow import ToolAllowList
from tests.integration.worker.conftest import (
    DEADLINE,
    call_done,
    insert_command,
    run_one,
    start_worker_process,
    unfinished,
)
from tests.support.processes import wait_until


def test_a_kind_left_out_fails_with_a_clear_error_and_never_runs(dsn, tmp_path):
    marker = tmp_path / "ran"
    code = f"def main():\n    open({str(marker)!r}, 'w').close()\n    return 1\n"
    done = run_one(dsn, "python", {"code": code}, allowed_tools=ToolAllowList.parse("noop,http"))

    assert done["status"] == "error"
    error = done["payload"]["error"]
    assert error["kind"] == "tool_not_allowed"
    assert "does not run 'python' tools (--allow-tools http,noop)" in error["message"]
    assert not marker.exists()
    assert run_one(dsn, "noop", allowed_tools=ToolAllowList.parse("noop"))["status"] == "ok"


def test_the_worker_process_takes_the_list_from_its_flag_and_env(dsn, conn, tmp_path):
    refused = insert_command(conn, "python", {"code": "def main():\n    return 1\n"})
    allowed = insert_command(conn, "noop")
    worker = start_worker_process(dsn, tmp_path / "w.log", NOETL_ALLOW_TOOLS="noop")
    try:
        wait_until(lambda: unfinished(conn) == 0, "both commands finished", timeout=DEADLINE)
    finally:
        worker.kill()
        worker.wait()
    assert call_done(conn, refused)[0]["payload"]["error"]["kind"] == "tool_not_allowed"
    assert call_done(conn, allowed)[0]["status"] == "ok"


def test_an_unknown_kind_in_the_list_is_refused_at_start_with_did_you_mean(dsn):
    done = subprocess.run(
        [sys.executable, "-m", "noetl_pg.worker.daemon", "--allow-tools", "noop,pyhton"],
        capture_output=True,
        text=True,
        timeout=DEADLINE,
        env={"NOETL_DSN": dsn, "PATH": "/usr/bin:/bin"},
    )
    assert done.returncode == 2
    assert "unknown tool kind 'pyhton' (did you mean 'python'?)" in done.stderr
