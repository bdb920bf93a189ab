"""The benchmark runs end to end, tiny: every row of its table, its JSON, positive figures.

Never a timing threshold: the figures depend on the machine and its load. The peers (DBOS,
procrastinate) are measured where the `[bench]` extra is installed and reported as not
installed where it is not (CI installs only `[test]`); both cases are checked.
"""

from __future__ import annotations

import contextlib
import io
import json
import math

import pytest

from bench.paths import NOT_IN_BUILD, fast_path_in_build
from bench.peers import DBOS, NOT_INSTALLED, PROCRASTINATE
from bench.run import HOP_NOT_STAMPED, main

TWO_HOPS = "sync on, 1E 1W, two hops"
FAST = "sync on, 1E 1W, fast path"
PATH_MEASURES = (  # every noetl path row against its floor, in both sync modes
    "chain 5 steps: throughput",
    "chain 5 steps: per step",
    "fanout 4x3: throughput",
    "fanout 4x3: step p50",
    "fanout 4x3: step p99",
    "step period: p50",
    "step period: p99",
)
HOPS = ("hop: p50", "hop: p99")
IDLE = "idle engine + worker: commits"
PEER_ROWS = {  # (measure, against) -> the peer that gives the reference figure
    ("chain 5 steps: throughput", "DBOS sequential"): DBOS,
    ("fanout 4x3: throughput", "DBOS 4 threads"): DBOS,
    ("fanout 4x3: throughput", "procrastinate c10"): PROCRASTINATE,
}


@pytest.fixture(scope="module")
def tiny(databases, tmp_path_factory):
    """One tiny run: what it printed (stdout) and the JSON document it wrote."""
    out = tmp_path_factory.mktemp("bench") / "results.json"
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        assert main(["--plan", "tiny", "--dsn", databases.admin_dsn, "--out", str(out)]) == 0
    return printed.getvalue(), json.loads(out.read_text())


def _rows(document, measure: str, config: str, against: str | None = None) -> list[dict]:
    return [
        row
        for row in document["table"]
        if row["measure"] == measure
        and row["config"] == config
        and (against is None or row["against"] == against)
    ]


def test_the_document_says_what_was_measured_on_what(tiny):
    printed, document = tiny
    assert {
        "date", "plan", "settings", "machine", "server", "load", "table", "runs",
        "fast_path_in_build", "peers",
    } <= set(document)  # fmt: skip
    assert document["plan"] == "tiny"
    assert document["machine"]["cpus"] >= 1
    assert document["server"]["server_version"]
    assert document["fast_path_in_build"] is fast_path_in_build()
    header = printed.splitlines()[0].split()
    assert header == ["measure", "config", "unit", "value", "against", "reference", "ratio"]


def test_every_measured_figure_is_positive_and_every_ratio_is_value_over_reference(tiny):
    _, document = tiny
    for row in document["table"]:
        if row["value"] is None:
            assert row["note"] in (NOT_IN_BUILD, HOP_NOT_STAMPED), row
            assert row["note"] == NOT_IN_BUILD or row["measure"].startswith("hop"), row
            continue
        if row["measure"] == IDLE:  # an idle second may see no commit at all
            assert row["value"] >= 0 and row["reference"] >= 0, row
            continue
        assert row["value"] > 0 and math.isfinite(row["value"]), row
        if row["reference"] is None:
            assert row["note"].endswith(NOT_INSTALLED), row
            assert row["ratio"] is None, row
        else:
            assert row["reference"] > 0, row
            assert row["ratio"] == row["value"] / row["reference"], row
    for run in document["runs"]:
        assert run["load"] >= 0, run
        if "steps_per_s" in run:
            assert run["steps_per_s"] > 0 and run["seconds"] > 0, run
            assert run["step_ms_p50"] > 0 and run["step_ms_p99"] >= run["step_ms_p50"], run


def test_both_paths_have_their_rows_against_their_own_floor(tiny):
    printed, document = tiny
    for mode in ("on", "off"):
        two_hops, fast = (c.replace("sync on", f"sync {mode}") for c in (TWO_HOPS, FAST))
        for measure in (*PATH_MEASURES, *HOPS, "wake: engine part p50"):
            assert len(_rows(document, measure, two_hops, "floor")) == 1, (measure, mode)
        if document["fast_path_in_build"]:
            for measure in PATH_MEASURES:
                assert len(_rows(document, measure, fast, "floor, one tx")) == 1, measure
            for measure in HOPS:  # the one-transaction floor's hop is inside one statement
                assert len(_rows(document, measure, fast, "two hops")) == 1, measure
            assert _rows(document, "fanout 4x3: throughput", fast, "floor, one tx, x10")
        else:
            for measure in ("chain 5 steps: throughput", "fanout 4x3: throughput"):
                (row,) = _rows(document, measure, fast)
                assert row["value"] is None and row["note"] == NOT_IN_BUILD
    assert NOT_IN_BUILD in printed or document["fast_path_in_build"]


def test_the_floors_are_measured_and_compared_with_each_other(tiny):
    _, document = tiny
    for mode in ("on", "off"):
        one_tx, batched = f"sync {mode}, floor, one tx", f"sync {mode}, floor, one tx, x10"
        assert _rows(document, "chain 5 steps: throughput", one_tx, "floor")
        assert _rows(document, "fanout 4x3: throughput", one_tx, "floor")
        assert _rows(document, "fanout 4x3: throughput", batched, "floor, one tx")
    measured = {(run["run"], run["config"]) for run in document["runs"]}
    assert ("floor, one tx, x10 fanout", "sync on, 1E 1W, floor, one tx, x10") in measured
    assert ("floor, one tx chain", "sync off, 1E 1W, floor, one tx") in measured


def test_each_peer_is_measured_or_said_not_installed(tiny):
    printed, document = tiny
    for (measure, against), peer in PEER_ROWS.items():
        (row,) = _rows(document, measure, TWO_HOPS, against)
        if peer.installed:
            assert row["reference"] > 0, row
            assert _rows(document, measure, "sync on, floor, one tx", against)
            assert isinstance(document["peers"][peer.name], dict)
        else:
            assert row["reference"] is None and row["note"] == f"{peer.name} {NOT_INSTALLED}"
            assert document["peers"][peer.name] == NOT_INSTALLED
            assert NOT_INSTALLED in printed


def test_the_long_chain_compares_its_last_tenth_with_its_first(tiny):
    _, document = tiny
    (row,) = _rows(document, "chain 20 steps: last 2 / first 2", TWO_HOPS, "first 2 steps")
    assert row["unit"] == "ms/step"
    (run,) = [
        r for r in document["runs"] if r["run"] == "noetl long chain" and r["config"] == TWO_HOPS
    ]
    assert (run["steps"], run["window"]) == (20, 2)
    assert run["last_ms"] == row["value"] and run["first_ms"] == row["reference"]


def test_idle_daemons_are_counted_on_each_path(tiny):
    _, document = tiny
    (row,) = _rows(document, IDLE, TWO_HOPS, "floor")
    assert row["unit"] == "tx/s"
    (fast,) = _rows(document, IDLE, FAST)
    assert (fast["value"] is None) is not document["fast_path_in_build"]
    idle_runs = {run["run"] for run in document["runs"] if "tx_per_s" in run}
    assert idle_runs == {"floor idle", "noetl idle"}


def test_timers_and_scaling_rows(tiny):
    printed, document = tiny
    path = "fast path" if document["fast_path_in_build"] else "two hops"
    for measure in ("wake, timers only: p50", "wake, timers only: p99"):
        assert _rows(document, measure, "timers 0.2s/0.3s, two hops", "floor"), measure
    configs = {row["config"] for row in document["table"] if row["measure"].startswith("scaling")}
    assert configs == {f"sync on, 1E 1W, {path}", f"sync on, 1E 2W, {path}"}
    assert "scaling fanout 4x3" in printed
