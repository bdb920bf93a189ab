"""Every NoETL idiom playbook migrates, validates and runs end to end with real processes.

`noetl-pg migrate --in-place` rewrites a copy of tests/fixtures/noetl_idioms, `validate`
accepts it, and `noetl-pg run` runs each playbook against the orchestrator's own database
and the examples' local HTTP server.
"""

from __future__ import annotations

import re
import shutil

import psycopg
import pytest

from tests.integration.cli.conftest import ROOT, cli_env, noetl, printed_result

IDIOMS = ROOT / "tests" / "fixtures" / "noetl_idioms"
ITEMS_COUNT = 7  # examples/server.py serves items 1..7, three a page

# playbook -> expected result (None: checked in the database instead)
EXPECTED = {
    "after": {"label": "many"},
    "bare_args": {"n": 5, "doubled": 10, "total": 5, "label": "2+3"},
    "call_error": {"attempts": 3},
    "input": {"product": 20},
    "job_uuid": None,
    "loop_index": {"labels": ["0:apple", "1:plum", "2:melon"]},
    "on_success": {"count": ITEMS_COUNT, "first": 1, "last": ITEMS_COUNT},
    "retry_policies": {"ok": True},
    "retry_when": {"attempts": 3},
    "save": {},
    "sink_backend": {},
    "sink_flat": {},
    "sql_templates": {"rows": [{"id": 7, "name": "o'hara"}]},
    "status_code": {"code": 200},
    "step_exit_response": {"healthy": True},
    "step_result": {"label": "high", "total": 31},
    "v1_basic": {"label": "hot"},
    "vars": {"user_id": 42, "email": "ada@example.org"},
}
# playbook -> (query, rows the sink left in the orchestrator's database)
SINK_ROWS = {
    "sink_backend": (
        "SELECT id, name, score FROM idiom_sink_scores ORDER BY id",
        [(1, "ada", 91), (2, "bob", 47)],
    ),
    "save": ("SELECT label, total FROM idiom_saved", [("fruits", 3)]),
    "sink_flat": ("SELECT message FROM idiom_flat_messages", [("HELLO",)]),
}


def here(*args: str, dsn: str | None):
    """`noetl-pg ARGS` with this checkout's noetl_pg first on the path (the installed
    script would import the package it was installed from)."""
    return noetl(*args, dsn=dsn, env=cli_env(dsn, PYTHONPATH=str(ROOT)))


@pytest.fixture(scope="module")
def migrated(tmp_path_factory):
    """A copy of the idiom playbooks, migrated in place by the CLI."""
    target = tmp_path_factory.mktemp("idioms") / "noetl_idioms"
    shutil.copytree(IDIOMS, target)
    check = here("migrate", "--check", str(target), dsn=None)
    assert check.returncode == 1, check.stdout + check.stderr
    assert check.stdout.count("would change: ") == len(EXPECTED)
    done = here("migrate", "--in-place", str(target), dsn=None)
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout.count("migrated: ") == len(EXPECTED)
    again = here("migrate", "--check", str(target), dsn=None)
    assert again.returncode == 0, again.stdout + again.stderr
    return target


def test_every_idiom_has_an_expected_result():
    assert {path.stem for path in IDIOMS.glob("*.yaml")} == set(EXPECTED)


def test_the_migrated_idioms_validate(migrated):
    files = sorted(str(path) for path in migrated.glob("*.yaml"))
    done = here("validate", *files, dsn=None)
    assert done.returncode == 0, done.stderr
    assert done.stdout.count("ok: ") == len(EXPECTED)


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_the_migrated_idiom_runs_end_to_end(name, migrated, dsn, example_server):
    done = here(
        "run", str(migrated / f"{name}.yaml"), "--set", f"base_url={example_server}", dsn=dsn
    )

    assert done.returncode == 0, done.stdout + done.stderr
    assert "workflow completed in " in done.stdout
    result = printed_result(done.stdout)
    if name == "job_uuid":
        execution_id = re.search(r" as (exec-\w+)", done.stdout).group(1)
        assert result == {"run": execution_id, "same": True}
    else:
        assert result == EXPECTED[name]
    if name in SINK_ROWS:
        query, rows = SINK_ROWS[name]
        with psycopg.connect(dsn) as conn:
            assert conn.execute(query).fetchall() == rows
