"""docs/cli.md: every `sh` block runs as written, with the exit status it says."""

from __future__ import annotations

import os
import re
import subprocess
import sys

from noetl_pg.store.embedded import stop_embedded_server
from tests.integration.cli.conftest import DEADLINE, ROOT, cli_env, spawn

DOC = ROOT / "docs" / "cli.md"
BLOCK = re.compile(r"^```sh( embedded)?\n(.*?)^```", re.M | re.S)
EXPECTED = re.compile(r"\s+# exit (\d+)$")


def blocks(embedded: bool) -> list[str]:
    found = [body for tag, body in BLOCK.findall(DOC.read_text()) if bool(tag) == embedded]
    assert found
    return [line for body in found for line in body.splitlines() if line.strip()]


def run_lines(lines: list[str], env: dict[str, str]) -> None:
    env = {**env, "PATH": os.path.dirname(sys.executable) + os.pathsep + env["PATH"]}
    for line in lines:
        match = EXPECTED.search(line)
        done = subprocess.run(
            ["bash", "-c", line],
            env=env,
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=DEADLINE,
            check=False,
        )
        expected = int(match.group(1)) if match else 0
        assert done.returncode == expected, f"{line}\n{done.stdout}\n{done.stderr}"


def test_the_examples_run_on_a_deployment(dsn):
    dev = spawn("dev", "--port", "0", dsn=dsn)
    try:
        run_lines(blocks(embedded=False), cli_env(dsn))
    finally:
        dev.terminate()
        dev.communicate(timeout=DEADLINE)


def test_the_embedded_server_examples_run(tmp_path):
    tmp_path.chmod(0o755)  # the server may run as another user; it must reach its home
    home = tmp_path / "home"
    try:
        run_lines(blocks(embedded=True), cli_env(None, NOETL_HOME=str(home)))
    finally:
        stop_embedded_server(home)
