"""The benchmark runs end to end, tiny: every row of its table, its JSON, positive figures.

Never a timing threshold: the figures depend on the machine and its load.
"""

from __future__ import annotations

import json
import math

from bench.run import main

MEASURES = (
    "chain 5 steps: throughput",
    "chain 5 steps: per step",
    "fanout 4x3: throughput",
    "fanout 4x3: step p50",
    "fanout 4x3: step p99",
    "wake, NOTIFY: p50",
    "wake, NOTIFY: p99",
    "wake, timers only: p50",
    "wake, timers only: p99",
    "scaling fanout 4x3",
)


def test_tiny_benchmark_prints_the_table_and_writes_json(databases, tmp_path, capsys):
    out = tmp_path / "results.json"

    assert main(["--plan", "tiny", "--dsn", databases.admin_dsn, "--out", str(out)]) == 0

    printed = capsys.readouterr().out
    document = json.loads(out.read_text())
    assert {"date", "plan", "settings", "machine", "server", "load", "table", "runs"} <= set(
        document
    )
    assert document["plan"] == "tiny"
    assert document["machine"]["cpus"] >= 1
    assert document["server"]["server_version"]
    rows = document["table"]
    for measure in MEASURES:
        assert any(row["measure"] == measure for row in rows), measure
        assert measure in printed
    configs = {row["config"] for row in rows if row["measure"].startswith("scaling")}
    assert configs == {"sync on, 1E 1W", "sync on, 1E 2W"}
    assert {row["config"] for row in rows if row["measure"].startswith("chain")} == {
        "sync on, 1E 1W",
        "sync off, 1E 1W",
    }
    for row in rows:
        assert row["noetl"] > 0 and math.isfinite(row["noetl"]), row
        assert row["floor"] is not None and row["floor"] > 0, row
        assert row["ratio"] == row["noetl"] / row["floor"], row
    for run in document["runs"]:
        assert run["steps_per_s"] > 0 and run["seconds"] > 0, run
        assert run["step_ms_p50"] > 0 and run["step_ms_p99"] >= run["step_ms_p50"], run
    assert "ratio" in printed.splitlines()[0]
