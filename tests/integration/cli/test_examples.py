"""Every example runs as it is through `noetl-pg run`, and prints what the docs say."""

from __future__ import annotations

import pytest

from tests.integration.cli.conftest import EXAMPLES, noetl, printed_result

ITEMS = [{"id": n, "name": f"item-{n}"} for n in range(1, 8)]

# example -> (extra arguments, expected result, steps that must show as completed)
EXPECTED = {
    "hello": ([], {"greeting": "hello, world!"}, ["start", "end"]),
    "python_pipeline": (
        [],
        {"report": {"label": "high", "total": 31}},
        ["start", "summarize", "report", "end"],
    ),
    "loop_branches": (
        [],
        {
            "big": [{"name": "melon", "crates": 2}, {"name": "pumpkin", "crates": 4}],
            "small": ["apple", "plum"],
        },
        ["classify", "pack_big", "end"],
    ),
    "postgres_etl": (
        [],
        {
            "rows": [{"id": 1, "name": "ada", "score": 91}, {"id": 3, "name": "cy", "score": 78}],
            "row_count": 2,
        },
        ["start", "load", "read_back", "end"],
    ),
    "pagination": ([], {"count": 7, "items": ITEMS}, ["fetch_all", "end"]),
    "flaky_retry": ([], {"response": {"ok": True, "attempts": 3}}, ["call_flaky", "end"]),
    "weather_loop_v2": (
        [],
        {"cities": 3, "warm": ["Paris", "Madrid"]},
        ["start", "fetch_weather", "end"],
    ),
    "durable_timer": ([], {"waited": 1.0}, ["start", "end"]),
    "step_timeout": ([], {"timed_out": True}, ["fallback"]),
    "concurrency": (
        [],
        {"tenant": "acme", "loaded": ["a.csv", "b.csv", "c.csv", "d.csv"]},
        ["start", "end"],
    ),
}
NEEDS_SERVER = {"pagination", "flaky_retry", "weather_loop_v2"}


def test_every_example_has_an_expected_result():
    assert {path.stem for path in EXAMPLES.glob("*.yaml")} == set(EXPECTED)


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_example_runs_end_to_end(name, dsn, request):
    extra, expected, steps = EXPECTED[name]
    args = ["run", f"examples/{name}.yaml", *extra]
    if name in NEEDS_SERVER:
        args += ["--set", f"base_url={request.getfixturevalue('example_server')}"]

    done = noetl(*args, dsn=dsn)

    assert done.returncode == 0, done.stdout + done.stderr
    assert printed_result(done.stdout) == expected
    for step in steps:
        assert f"{step}: started" in done.stdout
        assert f"{step}: completed in " in done.stdout
    assert "workflow completed in " in done.stdout


def test_retries_show_as_failed_calls(dsn, example_server):
    done = noetl("run", "examples/flaky_retry.yaml", "--set", f"base_url={example_server}", dsn=dsn)
    assert done.returncode == 0, done.stderr
    assert done.stdout.count("call_flaky: call failed: ") == 2
    assert "call_flaky: completed in " in done.stdout and "(3 calls)" in done.stdout


def test_set_values_are_yaml_scalars_and_pick_the_other_branch(dsn):
    done = noetl("run", "examples/python_pipeline.yaml", "--set", "threshold=50", "--json", dsn=dsn)
    assert done.returncode == 0, done.stderr
    # threshold=50 is an int: 31 > 50 is false, so the step.exit rule routes to "low"
    assert '"label": "low"' in done.stdout
