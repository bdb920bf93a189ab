"""`python -m bench.roundtrips` runs, on either path, and counts statements per step.

A subprocess: the counter needs psycopg's pure-Python libpq wrapper, chosen before psycopg
is first imported. Counts only: whether they are good is for the benchmark to show.
"""

from __future__ import annotations

import re
import subprocess
import sys

import pytest


@pytest.mark.parametrize("path", ["fast", "two-hops"])
def test_roundtrips_counts_the_statements_of_both_daemons(databases, path):
    done = subprocess.run(
        [sys.executable, "-m", "bench.roundtrips", "--steps", "3", "--path", path,
         "--dsn", databases.admin_dsn],
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip

    assert done.returncode == 0, done.stderr
    summary = done.stdout.splitlines()[0]
    assert summary.startswith("1 execution(s) x 3 steps, worker concurrency 4, "), summary
    label = "two hops" if path == "two-hops" else "fast path"
    assert f", {label}" in summary, summary
    counts = dict(re.findall(r"(engine|noetl-worker) (\d+\.\d+)", summary))
    assert set(counts) == {"engine", "noetl-worker"}, summary
    assert all(float(n) > 0 for n in counts.values()), summary
