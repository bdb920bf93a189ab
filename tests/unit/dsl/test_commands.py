"""`validate` and `migrate` subcommands, called through their argparse registration."""

from __future__ import annotations

import argparse
from pathlib import Path

import pytest

from noetl_pg.cli import migrate as migrate_command
from noetl_pg.cli import validate as validate_command
from noetl_pg.dsl import parse_playbook_file

EXAMPLES = Path(__file__).resolve().parents[3] / "examples"

GOOD = """\
apiVersion: noetl.io/v2
kind: Playbook
metadata: {name: good}
workflow:
  - step: start
    tool: {kind: noop}
"""

BAD = """\
apiVersion: noetl.io/v2
kind: Playbook
metadata: {name: bad}
workflow:
  - step: start
    type: http
  - step: other
    tool: {kind: noop}
    next: nowhere
"""

V1 = """\
# a v1 playbook
name: old
workflow:
  - step: start
    type: python
    code: "def main(): return 1"
    save: {table: t}
    next: end
  - step: end
    type: end
"""


def run(*argv: str) -> int:
    parser = argparse.ArgumentParser(prog="noetl-pg")
    subparsers = parser.add_subparsers(dest="command")
    validate_command.register(subparsers)
    migrate_command.register(subparsers)
    args = parser.parse_args(list(argv))
    return args.func(args)


def test_validate_ok(tmp_path, capsys):
    good = tmp_path / "good.yaml"
    good.write_text(GOOD)
    assert run("validate", str(good)) == 0
    out, err = capsys.readouterr()
    assert out == f"ok: {good}\n"
    assert err == ""


def test_validate_reports_each_problem_on_stderr(tmp_path, capsys):
    good, bad = tmp_path / "good.yaml", tmp_path / "bad.yaml"
    good.write_text(GOOD)
    bad.write_text(BAD)
    assert run("validate", str(good), str(bad)) == 1
    out, err = capsys.readouterr()
    assert out == f"ok: {good}\n"
    assert err.splitlines() == [
        f"{bad}:6:5: start.type: step 'start': `type: http` is v1 syntax; "
        "write `tool: {kind: http, ...}`",
        f"{bad}:9:5: other.next: `next` names step 'nowhere', which does not exist",
    ]


def test_validate_missing_file(tmp_path, capsys):
    assert run("validate", str(tmp_path / "nope.yaml")) == 1
    assert "nope.yaml: cannot read:" in capsys.readouterr().err


def test_validate_examples(capsys):
    files = sorted(str(p) for p in EXAMPLES.glob("*.yaml"))
    assert run("validate", *files) == 0
    assert capsys.readouterr().out.count("ok: ") == len(files)


def test_migrate_to_stdout_with_warnings(tmp_path, capsys):
    v1 = tmp_path / "old.yaml"
    v1.write_text(V1)
    assert run("migrate", str(v1)) == 0
    out, err = capsys.readouterr()
    assert out.startswith("# a v1 playbook\napiVersion: noetl.io/v2\n")
    assert f"{v1}: warning: line 7: step 'start' save: names no `backend`, `storage`" in err


def test_migrate_to_a_file_that_validates(tmp_path, capsys):
    v1, v2 = tmp_path / "old.yaml", tmp_path / "new.yaml"
    v1.write_text(V1)
    assert run("migrate", str(v1), "-o", str(v2)) == 0
    assert capsys.readouterr().out == ""
    assert parse_playbook_file(v2).step("start").tool.kind == "python"
    assert run("validate", str(v2)) == 0


def test_migrate_failure(tmp_path, capsys):
    broken = tmp_path / "broken.yaml"
    broken.write_text("workflow:\n  - step: start\n    next: nowhere\n")
    assert run("migrate", str(broken)) == 1
    assert "cannot migrate" in capsys.readouterr().err


@pytest.mark.parametrize(
    "name",
    ["hello", "pagination", "loop_branches", "python_pipeline", "postgres_etl", "flaky_retry"],
)
def test_each_example_exists_and_names_its_path(name):
    pb = parse_playbook_file(EXAMPLES / f"{name}.yaml")
    assert pb.metadata.path == f"examples/{name}"
    assert pb.step("start")
