"""Static checks of `schedules:`: a bad cron, an unknown timezone, neither or both of
cron and every, a bad overlap, duplicate names: each refused naming the field."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from noetl_pg.dsl import PlaybookError, parse_playbook
from noetl_pg.engine.schedules import next_tick, tick_execution_id

BASE = """\
apiVersion: noetl.io/v2
kind: Playbook
metadata: {name: s}
schedules:
  - %s
workflow:
  - step: start
    tool: {kind: noop}
"""


def message(entry: str) -> str:
    with pytest.raises(PlaybookError) as info:
        parse_playbook(BASE % entry, source="pb.yaml")
    return str(info.value)


@pytest.mark.parametrize(
    ("entry", "expected"),
    [
        ("{cron: '61 * * * *'}", "schedules[0].cron"),
        ("{cron: '61 * * * *'}", "not a valid cron expression"),
        ("{every: 5, timezone: Mars/Olympus}", "unknown timezone 'Mars/Olympus'"),
        ("{timezone: UTC}", "exactly one of `cron` or `every`"),
        ("{cron: '* * * * *', every: 5}", "exactly one of `cron` or `every`"),
        ("{every: -1}", "schedules[0].every"),
        ("{every: 5, overlap: sometimes}", "overlap"),
    ],
)
def test_bad_schedules_are_refused_naming_the_field(entry: str, expected: str):
    text = message(entry)
    assert expected in text, text
    assert "pb.yaml" in text


def test_a_cron_tick_is_in_its_timezone():
    row = {"cron": "0 9 * * *", "timezone": "Europe/Paris", "every_seconds": None}
    after = datetime(2030, 1, 1, 12, 0, tzinfo=UTC)
    assert next_tick(row, after) == datetime(2030, 1, 2, 8, 0, tzinfo=UTC)


def test_an_every_tick_keeps_its_phase_and_skips_missed_ticks():
    row = {"cron": None, "timezone": "UTC", "every_seconds": 10}
    base = datetime(2030, 1, 1, 0, 0, 0, tzinfo=UTC)
    later = datetime(2030, 1, 1, 0, 0, 35, tzinfo=UTC)
    assert next_tick(row, later, base=base) == datetime(2030, 1, 1, 0, 0, 40, tzinfo=UTC)


def test_a_tick_names_its_execution():
    tick = datetime(2030, 1, 1, tzinfo=UTC)
    assert tick_execution_id("p", "a", tick) == tick_execution_id("p", "a", tick)
    assert tick_execution_id("p", "a", tick) != tick_execution_id("p", "b", tick)
