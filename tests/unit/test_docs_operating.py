"""docs/operating.md's playbook is a valid playbook with the retention it shows."""

from __future__ import annotations

import re
from pathlib import Path

from noetl_pg.dsl import parse_playbook

DOC = Path(__file__).resolve().parents[2] / "docs" / "operating.md"


def test_the_retention_example_parses():
    blocks = re.findall(r"```yaml\n(.*?)```", DOC.read_text(), re.DOTALL)
    assert len(blocks) == 1
    playbook = parse_playbook(blocks[0], source="docs/operating.md")
    assert playbook.retention == "7d"
