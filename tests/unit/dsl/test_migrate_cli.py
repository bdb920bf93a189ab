"""`noetl-pg migrate --check` and `--in-place` over files and directories."""

from __future__ import annotations

import pytest

from noetl_pg.cli.main import main
from noetl_pg.dsl import parse_playbook_file

V2 = """\
apiVersion: noetl.io/v2
kind: Playbook
metadata: {name: already}   # flow style stays: the playbook is already in this dialect
workflow:
  - step: start
    tool: {kind: noop}
"""

V2_WITH_IDIOM = """\
apiVersion: noetl.io/v2
kind: Playbook
metadata: {name: idiom}
workflow:
  - step: start
    args: {run: "{{ job.uuid }}"}
    tool: {kind: noop}
"""

V1 = """\
workflow:
  - step: start
    type: python
    code: "def main(): return 1"
"""

BROKEN = "workflow:\n  - step: start\n    type: start\n    next: nowhere\n"


@pytest.fixture
def tree(tmp_path):
    (tmp_path / "nested").mkdir()
    (tmp_path / "v2.yaml").write_text(V2)
    (tmp_path / "nested" / "idiom.yml").write_text(V2_WITH_IDIOM)
    (tmp_path / "nested" / "v1.yaml").write_text(V1)
    (tmp_path / "notes.txt").write_text("not a playbook")
    return tmp_path


def test_check_prints_what_would_change_and_exits_1(tree, capsys):
    assert main(["migrate", "--check", str(tree)]) == 1
    out, err = capsys.readouterr()
    assert f"unchanged: {tree / 'v2.yaml'}" in out
    assert f"would change: {tree / 'nested' / 'idiom.yml'}" in out
    assert f"would change: {tree / 'nested' / 'v1.yaml'}" in out
    assert '-    args: {run: "{{ job.uuid }}"}' in out  # the diff
    assert '+      run: "{{ execution_id }}"' in out
    assert (
        f"{tree / 'nested' / 'idiom.yml'}: warning: line 6: step 'start' args.run:"
        " rewrote `job.uuid` -> `execution_id`" in err
    )
    assert "notes.txt" not in out + err
    # --check changes nothing
    assert (tree / "nested" / "idiom.yml").read_text() == V2_WITH_IDIOM


def test_check_exits_0_when_nothing_would_change(tree, capsys):
    assert main(["migrate", "--check", str(tree / "v2.yaml")]) == 0
    assert capsys.readouterr().out == f"unchanged: {tree / 'v2.yaml'}\n"


def test_in_place_rewrites_only_what_changes(tree, capsys):
    assert main(["migrate", "--in-place", str(tree)]) == 0
    out, _ = capsys.readouterr()
    assert f"migrated: {tree / 'nested' / 'idiom.yml'} (1 warnings)" in out
    assert (tree / "v2.yaml").read_text() == V2  # byte for byte
    for name in ("idiom.yml", "v1.yaml"):
        parse_playbook_file(tree / "nested" / name)
    assert main(["migrate", "--check", str(tree)]) == 0  # a fixed point


def test_a_file_that_cannot_be_migrated_is_reported_and_left_alone(tmp_path, capsys):
    (tmp_path / "broken.yaml").write_text(BROKEN)
    (tmp_path / "v1.yaml").write_text(V1)
    assert main(["migrate", "--in-place", str(tmp_path)]) == 1
    out, err = capsys.readouterr()
    assert f"{tmp_path / 'broken.yaml'}: cannot migrate:" in err
    assert "'nowhere', which does not exist" in err
    assert (tmp_path / "broken.yaml").read_text() == BROKEN
    assert f"migrated: {tmp_path / 'v1.yaml'}" in out


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--check", "-o", "out.yaml", "a.yaml"], "-o is for one FILE"),
        (["a.yaml", "b.yaml"], "one FILE (use --check or --in-place for several)"),
    ],
)
def test_bad_arguments(argv, message, capsys):
    assert main(["migrate", *argv]) == 2
    assert message in capsys.readouterr().err


def test_a_directory_without_playbooks(tmp_path, capsys):
    assert main(["migrate", "--check", str(tmp_path)]) == 1
    assert "no *.yaml or *.yml file found" in capsys.readouterr().err
