"""Schedules with real processes: two engines fire an `every: 1` schedule once per tick
(counted from the table and the log), ticks missed while every engine was stopped fire
once, and pause / resume work from the CLI and the API."""

from __future__ import annotations

import subprocess
import sys
from datetime import datetime, timedelta
from itertools import pairwise

import httpx

from tests.chaos.support import running_cluster
from tests.support.catalog import register_playbook
from tests.support.processes import start_daemon, terminate, wait_until

EVERY = """
apiVersion: noetl.io/v2
kind: Playbook
metadata: {name: ticker, path: tests/ticker}
schedules:
  - {name: each-second, every: 1, overlap: allow, workload: {from: schedule}}
workflow:
  - step: start
    tool: {kind: noop}
"""


def starts(conn) -> list[tuple[str, datetime]]:
    rows = conn.execute(
        "SELECT execution_id, payload->'schedule'->>'tick' AS tick FROM noetl.event"
        " WHERE event_type = 'workflow.start' ORDER BY event_id"
    ).fetchall()
    return [(r["execution_id"], datetime.fromisoformat(r["tick"])) for r in rows]


def schedule(conn):
    return conn.execute("SELECT * FROM noetl.schedule WHERE path = 'tests/ticker'").fetchone()


def cli(dsn: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "noetl_pg.cli", "schedule", *args],
        env={"NOETL_DSN": dsn, "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
    )


def test_two_engines_fire_each_tick_once_and_catch_up_once(dsn, conn, tmp_path):
    register_playbook(conn, EVERY)
    with running_cluster(dsn, tmp_path, engines=2, workers=1, safety_interval=0.5) as cluster:
        wait_until(lambda: schedule(conn)["fires"] >= 4, "four ticks")
        assert cluster.processes["engine"]
        for process in cluster.processes["engine"]:
            assert terminate(process) == 0
        cluster.processes["engine"] = []
        held = schedule(conn)
        fired = starts(conn)
        assert held["fires"] == len(fired) == len({eid for eid, _ in fired})
        assert len({tick for _, tick in fired}) == len(fired)
        assert all(b - a == timedelta(seconds=1) for (_, a), (_, b) in pairwise(fired))
        # Nothing runs for several ticks.
        wait_until(
            lambda: conn.execute(
                "SELECT now() > %s + interval '3 seconds' AS late", [held["next_fire_at"]]
            ).fetchone()["late"],
            "three ticks to be missed",
        )
        back = conn.execute("SELECT now() AS t").fetchone()["t"]
        cluster.processes["engine"] = [
            start_daemon("engine", dsn, tmp_path, "--safety-interval", "0.5")
        ]
        wait_until(lambda: len(starts(conn)) >= len(fired) + 2, "two more starts")
        after = starts(conn)[len(fired) :]
        assert after[0][1] == held["next_fire_at"]  # the missed ticks fire once
        assert after[1][1] > back  # ... and the next is after the engines came back
        # Every tick's execution runs; the schedule's workload is its workload.
        eid = after[0][0]
        row = wait_until(
            lambda: conn.execute(
                "SELECT workload FROM noetl.execution WHERE execution_id = %s"
                " AND status = 'completed'",
                [eid],
            ).fetchone(),
            "the caught-up tick's run completes",
        )
        assert row["workload"] == {"from": "schedule"}
        # Pause from the CLI: no more starts; the API lists it paused.
        paused = cli(dsn, "pause", "tests/ticker")
        assert paused.returncode == 0, paused.stderr
        count = len(starts(conn))
        listing = httpx.get(f"{cluster.gateway_url}/api/v2/schedules").json()["schedules"]
        assert [(s["name"], s["paused"]) for s in listing] == [("each-second", True)]
        conn.execute("SELECT pg_sleep(2)")  # two ticks' time: a paused schedule must not fire
        assert len(starts(conn)) <= count + 1  # one scan may have been past its lock
        resumed = httpx.post(
            f"{cluster.gateway_url}/api/v2/schedules/resume", json={"path": "tests/ticker"}
        )
        assert resumed.status_code == 200, resumed.text
        unknown = httpx.post(f"{cluster.gateway_url}/api/v2/schedules/pause", json={"path": "nope"})
        assert unknown.status_code == 404 and "nope" in unknown.text
        missing = cli(dsn, "resume", "nope")
        assert missing.returncode == 1 and "nope" in missing.stderr
        listed = cli(dsn, "list")
        assert "each-second" in listed.stdout and "paused=False" in listed.stdout


def test_registering_a_new_version_replaces_the_schedules(conn):
    register_playbook(conn, EVERY)
    register_playbook(conn, EVERY.replace("each-second", "other").replace("every: 1", "every: 5"))
    rows = conn.execute("SELECT name, version, every_seconds FROM noetl.schedule").fetchall()
    assert [(r["name"], r["version"], r["every_seconds"]) for r in rows] == [("other", 2, 5.0)]


QUEUED_TICKS = """
apiVersion: noetl.io/v2
kind: Playbook
metadata: {name: held, path: tests/held}
schedules:
  - {name: each-second, every: 1, overlap: queue}
workflow:
  - step: start
    tool: {kind: wait, signal: go}
"""


def test_overlap_queue_holds_the_tick_until_the_previous_run_ends(dsn, conn, tmp_path):
    """The run of the first tick waits for a signal: while it runs, the next tick is held
    (no start, none skipped); once it ends, that held tick fires, with its own time."""
    register_playbook(conn, QUEUED_TICKS)

    def held_starts():
        return [(eid, tick) for eid, tick in starts(conn)]

    with running_cluster(dsn, tmp_path, engines=1, workers=1, safety_interval=0.5) as cluster:
        wait_until(lambda: len(held_starts()) == 1, "the first tick")
        first_id, first_tick = held_starts()[0]
        wait_until(
            lambda: conn.execute(
                "SELECT now() > %s + interval '3 seconds' AS late", [first_tick]
            ).fetchone()["late"],
            "three more ticks to come due",
        )
        row = conn.execute(
            "SELECT fires, skipped, next_fire_at FROM noetl.schedule WHERE path = 'tests/held'"
        ).fetchone()
        assert (row["fires"], row["skipped"]) == (1, 0)
        assert row["next_fire_at"] == first_tick + timedelta(seconds=1)  # held, not moved on
        signal = httpx.post(
            f"{cluster.gateway_url}/api/v2/executions/{first_id}/signals", json={"name": "go"}
        )
        assert signal.status_code == 202, signal.text
        wait_until(lambda: len(held_starts()) == 2, "the held tick fires")
        assert held_starts()[1][1] == first_tick + timedelta(seconds=1)
        status = conn.execute(
            "SELECT status FROM noetl.execution WHERE execution_id = %s", [first_id]
        ).fetchone()["status"]
        assert status == "completed"
        row = conn.execute("SELECT skipped FROM noetl.schedule WHERE path = 'tests/held'")
        assert row.fetchone()["skipped"] == 0
