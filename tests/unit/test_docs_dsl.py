"""docs/dsl.md's examples work as they are.

Blocks are marked by their fence's info string: `yaml playbook` (a complete playbook:
it validates), `yaml noetl` (a NoETL playbook: it migrates to a valid one), `yaml
migrated` and `text warnings` right after a `yaml noetl` block (exactly what `migrate`
prints for it), and `yaml typo` followed by the `validate` session pasted under it.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from noetl_pg.cli.main import main
from noetl_pg.dsl import migrate_v1_to_v2_with_warnings, parse_playbook

DOC = Path(__file__).resolve().parents[2] / "docs" / "dsl.md"
FENCE = re.compile(r"^```([^\n]*)\n(.*?)^```$", re.MULTILINE | re.DOTALL)


def blocks() -> list[tuple[str, str]]:
    return [(info.strip(), body) for info, body in FENCE.findall(DOC.read_text())]


def marked(info: str) -> list[str]:
    return [body for kind, body in blocks() if kind == info]


@pytest.mark.parametrize("index", range(len(marked("yaml playbook"))))
def test_complete_playbooks_validate(index):
    playbook = parse_playbook(marked("yaml playbook")[index], source=f"docs/dsl.md#{index}")
    assert playbook.step("start")


def test_the_doc_has_its_examples():
    kinds = [kind for kind, _ in blocks()]
    assert kinds.count("yaml playbook") >= 3
    assert kinds.count("yaml noetl") >= 2
    assert kinds.count("yaml typo") == 1


def test_noetl_blocks_migrate_to_what_the_doc_shows():
    found = blocks()
    for index, (kind, body) in enumerate(found):
        if kind != "yaml noetl":
            continue
        migrated, warnings = migrate_v1_to_v2_with_warnings(body)
        assert warnings, f"NoETL block {index} has nothing to migrate"
        following = dict(found[index + 1 : index + 3])
        if "yaml migrated" in following:
            assert following["yaml migrated"] == migrated
            printed = [f"fetch_pages.yaml: warning: {w}" for w in warnings]
            assert following["text warnings"].splitlines() == printed


def test_the_validate_output_is_the_real_one(tmp_path, capsys, monkeypatch):
    found = blocks()
    index = next(i for i, (kind, _) in enumerate(found) if kind == "yaml typo")
    (tmp_path / "typo.yaml").write_text(found[index][1])
    session = found[index + 1][1].splitlines()
    assert session[0] == "$ noetl-pg validate typo.yaml"
    expected = session[1 : session.index("$ echo $?")]
    monkeypatch.chdir(tmp_path)
    status = main(["validate", "typo.yaml"])
    assert status == int(session[-1])
    assert capsys.readouterr().err.splitlines() == expected
