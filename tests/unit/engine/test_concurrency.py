"""Playbook `concurrency` in the pure engine: a start waits `queued` under its rendered
key; `workflow.admit` begins it; a step timeout names the commands to cancel."""

from __future__ import annotations

from noetl_pg.dsl import PlaybookError, parse_playbook
from tests.unit.engine.sim import Sim, playbook

NOOP = "    tool: {kind: noop}"


def limited(key: str | None, limit: int = 2) -> str:
    spec = f"{{key: {key!r}, limit: {limit}}}" if key else f"{{limit: {limit}}}"
    return playbook("  - step: start", NOOP).replace("workflow:", f"concurrency: {spec}\nworkflow:")


def test_a_start_waits_queued_under_its_rendered_key_until_admitted():
    sim = Sim(limited("t-{{ workload.tenant }}"), workload={"tenant": "a"})
    assert sim.status == "queued"
    assert sim.last.queued == ("t-a", 2)
    assert not sim.issued
    assert sim.names()[-1] == "workflow.queued"
    sim.send("workflow.admit", {"path": sim.playbook.playbook.metadata.path})
    assert sim.status == "running"
    sim.complete({})
    assert sim.status == "completed"


def test_the_key_defaults_to_the_path_and_a_second_admit_is_ignored():
    sim = Sim(limited(None))
    assert sim.last.queued == (sim.playbook.playbook.metadata.path, 2)
    sim.send("workflow.admit", {})
    sim.send("workflow.admit", {})
    assert "admit ignored" in sim.diagnostics[-1]["note"]
    assert len(sim.issued) == 1


def test_a_key_that_cannot_render_fails_the_start_naming_the_field():
    sim = Sim(limited("{{ workload.missing.deeper }}"))
    assert sim.status == "failed"
    assert "concurrency.key" in sim.state.error


def test_a_queued_execution_can_be_cancelled():
    sim = Sim(limited("k"))
    sim.send("workflow.cancel", {"reason": "no"})
    assert sim.status == "cancelled"


def test_a_step_timeout_names_the_commands_to_cancel():
    sim = Sim(playbook("  - step: start", "    timeout: 5", NOOP))
    (command,) = sim.pending.values()
    sim.send("timeout", {"run": "start#1", "seconds": 5})
    assert sim.last.cancel_commands == [command.run_key]


def test_a_bad_limit_or_field_is_refused_naming_it():
    for text, where in [
        (limited("k", 0), "concurrency.limit: Input should be greater than 0"),
        (limited("k").replace("limit: 2", "limit: 2, lmit: 1"), "concurrency.lmit: unknown field"),
        (
            playbook("  - step: start", "    concurrency: {limit: -1}", NOOP),
            "start.concurrency.limit: Input should be greater than 0",
        ),
    ]:
        try:
            parse_playbook(text)
        except PlaybookError as exc:
            assert where in str(exc)
        else:
            raise AssertionError(f"accepted: {text}")
