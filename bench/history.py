"""Hot queries with 10 M events of history against the same queries on an empty log.

Two databases get the same live work (20 running executions, 100 pending commands, 100
unapplied events); one also holds `--events` events of history (ten per finished
execution, spread over four weeks, so over five week partitions) and two finished
commands per execution. Each hot query is run under `EXPLAIN (ANALYZE, BUFFERS)` in a
transaction that is rolled back, `--repeat` times after a warm-up; the table gives the
median execution time and the buffers touched, and the ratio history / empty. The row
that matters is "lease + claim" (issue 16: at most 1.2). By hand only:

    .venv/bin/python -m bench.history                      # 10 M events (~15 min here)
    .venv/bin/python -m bench.history --events 1000000     # quicker
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import statistics
import time
from pathlib import Path
from typing import Any

import psycopg
from psycopg.rows import dict_row
from psycopg.types.json import Jsonb

from bench.run import bench_database, load, machine, revision, server
from bench.sql import q
from noetl_pg.store.migrations import upgrade
from noetl_pg.store.queries import query

LIVE = [f"live-{n}" for n in range(1, 17)]


def _hot(live_event: int) -> dict[str, dict[str, Any]]:
    """query name -> parameters: the hot loops of a worker, an engine and the gateway."""
    return {
        "lease_commands": {"n": 10, "worker_id": "w", "lease_seconds": 30.0},
        "claim_executions": {"scan": 1000, "batch": 16},
        "load_unprocessed_events": {"ids": LIVE, "limit": 1000},
        "load_executions": {"ids": LIVE},
        "mark_events_processed": {
            "engine": "e",
            "rows": Jsonb([{"event_id": live_event, "error": None, "diagnostic": None}]),
        },
        "list_execution_events": {"execution_id": "live-3", "after": 0, "limit": 100},
    }


def fill(dsn: str, events: int) -> float:
    """The history, analyzed; returns the seconds it took."""
    started = time.monotonic()
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(q("history_executions"), {"executions": events // 10})
        conn.execute("ALTER TABLE noetl.event DISABLE TRIGGER USER")
        conn.execute(q("history_events"), {"events": events})
        conn.execute("ALTER TABLE noetl.event ENABLE TRIGGER USER")
        conn.execute(
            "SELECT setval(pg_get_serial_sequence('noetl.event', 'event_id'), %s)", [events]
        )
        conn.execute(q("history_queue"), {"commands": events // 5})
    return time.monotonic() - started


def weeks(dsn: str) -> None:
    """The schema and the weeks of a deployment keeping 30 days, on both sides (so both
    have as many partitions)."""
    upgrade(dsn)
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute("SELECT noetl.ensure_event_partitions(now() - interval '29 days', now())")


def live(dsn: str) -> int:
    """The live work, analyzed; returns one unapplied event's id."""
    with psycopg.connect(dsn, autocommit=True, row_factory=dict_row) as conn:
        conn.execute(q("history_live"))
        for table in ("execution", "event", "queue"):
            conn.execute(f"VACUUM ANALYZE noetl.{table}")
        row = conn.execute(
            "SELECT min(event_id) AS id FROM noetl.event WHERE processed_at IS NULL"
        ).fetchone()
    return row["id"]


def measure(dsn: str, repeat: int) -> dict[str, dict[str, float]]:
    """Median execution ms, planning ms and buffers of each hot query."""
    found: dict[str, dict[str, float]] = {}
    live_event = live(dsn)
    with psycopg.connect(dsn, row_factory=dict_row) as conn:
        for name, params in _hot(live_event).items():
            runs = []
            for _ in range(repeat + 3):
                row = conn.execute(
                    "EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON) " + query(name), params
                ).fetchone()
                conn.rollback()
                plan = next(iter(row.values()))[0]
                top = plan["Plan"]
                buffers = top.get("Shared Hit Blocks", 0) + top.get("Shared Read Blocks", 0)
                runs.append((plan["Execution Time"], plan["Planning Time"], buffers))
            runs = runs[3:]
            found[name] = {
                "ms": statistics.median(r[0] for r in runs),
                "planning_ms": statistics.median(r[1] for r in runs),
                "buffers": statistics.median(r[2] for r in runs),
            }
    return found


def _ratio(a: float, b: float) -> float | None:
    return round(a / b, 2) if b else None


def table(empty: dict[str, dict[str, float]], history: dict[str, dict[str, float]]) -> list:
    rows = []
    names = [*empty, "lease + claim"]
    for name in names:
        if name == "lease + claim":
            pair = ("lease_commands", "claim_executions")
            e = {k: sum(empty[n][k] for n in pair) for k in ("ms", "planning_ms", "buffers")}
            h = {k: sum(history[n][k] for n in pair) for k in ("ms", "planning_ms", "buffers")}
        else:
            e, h = empty[name], history[name]
        rows.append(
            {
                "query": name,
                "empty_ms": round(e["ms"], 3),
                "history_ms": round(h["ms"], 3),
                "ratio_ms": _ratio(h["ms"], e["ms"]),
                "empty_buffers": e["buffers"],
                "history_buffers": h["buffers"],
                "ratio_buffers": _ratio(h["buffers"], e["buffers"]),
                "history_planning_ms": round(h["planning_ms"], 3),
            }
        )
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.history", description=__doc__)
    parser.add_argument("--dsn", default="postgresql://127.0.0.1:5432/test")
    parser.add_argument("--events", type=int, default=10_000_000)
    parser.add_argument("--repeat", type=int, default=51)
    parser.add_argument("--no-write", action="store_true")
    args = parser.parse_args(argv)
    load_before = load()
    with bench_database(args.dsn, "empty") as dsn:
        weeks(dsn)
        empty = measure(dsn, args.repeat)
    with bench_database(args.dsn, "history") as dsn:
        weeks(dsn)
        seconds = fill(dsn, args.events)
        print(f"filled {args.events:,} events of history in {seconds:.0f} s")
        history = measure(dsn, args.repeat)
    rows = table(empty, history)
    print(f"{'query':26} {'empty ms':>9} {'hist ms':>9} {'ratio':>6} {'bufs':>6} {'h bufs':>6}")
    for r in rows:
        print(
            f"{r['query']:26} {r['empty_ms']:9.3f} {r['history_ms']:9.3f} {r['ratio_ms']!s:>6}"
            f" {r['empty_buffers']:6.0f} {r['history_buffers']:6.0f}"
        )
    if not args.no_write:
        out = Path(__file__).resolve().parent / "results" / f"{dt.date.today()}-history.json"
        out.write_text(
            json.dumps(
                {
                    "events": args.events,
                    "fill_seconds": round(seconds, 1),
                    "machine": machine(),
                    "server": server(args.dsn),
                    "revision": revision(),
                    "load": [load_before, load()],
                    "table": rows,
                },
                indent=2,
            )
        )
        print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
