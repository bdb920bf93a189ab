"""The OpenAPI document describes the server exactly: schemathesis, every check enabled,
with a token, against a real `noetl-gateway` process (and an engine applying events).

Any 5xx, any answer the document does not allow, any valid request refused or invalid
one accepted fails this test. Bounded in examples and time (docs/api.md has the command).
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import httpx

from tests.integration.gateway.support import HELLO
from tests.integration.gateway.test_processes import gateway_process, process

CONFIG = Path(__file__).with_name("schemathesis.toml")
TOKEN = "fuzz-t0ken"
SEED = "20261202"
RUN_DEADLINE = 600  # seconds; a hang guard for the whole run, not a performance check


def schemathesis_command(url: str, token: str) -> list[str]:
    return [
        str(Path(sys.executable).with_name("schemathesis")),
        "--config-file",
        str(CONFIG),
        "run",
        f"{url}/openapi.json",
        "--header",
        f"Authorization: Bearer {token}",
        "--checks",
        "all",
        "--max-examples",
        "25",
        "--max-time",
        "30",
        "--seed",
        SEED,
        "--workers",
        "1",
    ]


def test_the_gateway_answers_as_its_openapi_document_says(dsn, tmp_path):
    with (
        process("noetl_pg.engine.daemon", dsn),
        gateway_process(dsn, NOETL_API_TOKEN=TOKEN) as url,
    ):
        headers = {"Authorization": f"Bearer {TOKEN}"}
        register = httpx.post(
            f"{url}/api/v2/engine/register-playbook",
            json={"playbook_yaml": HELLO},
            headers=headers,
            timeout=60,
        )
        assert register.status_code == 201, register.text
        started = httpx.post(  # the execution schemathesis.toml names
            f"{url}/api/v2/events",
            params={"wait": 30},
            json={"name": "workflow.start", "path": "examples/hello", "execution_id": "exec-fuzz"},
            headers=headers,
            timeout=60,
        )
        assert started.status_code == 200, started.text
        run = subprocess.run(
            schemathesis_command(url, TOKEN),
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=RUN_DEADLINE,
        )
    output = run.stdout + run.stderr
    assert run.returncode == 0, output[-20000:]
    assert "No issues found" in output or "passed" in output, output[-5000:]
