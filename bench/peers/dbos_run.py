"""DBOS's step overhead on the benchmark's server: workflows of no-op steps, run one after
another and from several threads, timed by DBOS's own `workflow_status` rows.

`python -m bench.peers.dbos_run --dsn DSN --sequential N --threaded N [--threads 4]`
(the database of DSN must exist; DBOS creates its schema there). Prints one JSON object:
`{"sequential": {...}, "threaded": {...}}`, each with workflows, steps, seconds and
steps_per_s. Runs in its own process so that DBOS's global state never meets ours.
"""

from __future__ import annotations

import argparse
import json
import logging
from concurrent.futures import ThreadPoolExecutor

import psycopg
from dbos import DBOS, DBOSConfig, SetWorkflowID

from bench.peers import sqlalchemy_url

STEPS = 10  # steps per workflow


@DBOS.step()
def noop_step(n: int) -> int:
    return n


@DBOS.workflow()
def noop_workflow(steps: int) -> int:
    total = 0
    for n in range(steps):
        total += noop_step(n)
    return total


def _run(workflow_id: str) -> None:
    with SetWorkflowID(workflow_id):
        noop_workflow(STEPS)


def _span_seconds(dsn: str, ids: list[str]) -> float:
    """First workflow created to last workflow finished, from DBOS's rows (epoch ms)."""
    with psycopg.connect(dsn) as conn:
        row = conn.execute(
            "SELECT (max(coalesce(completed_at, updated_at)) - min(created_at)) / 1000.0,"
            "       count(*) FILTER (WHERE status = 'SUCCESS')"
            "  FROM dbos.workflow_status WHERE workflow_uuid = ANY(%s)",
            (ids,),
        ).fetchone()
    seconds, succeeded = row
    if succeeded != len(ids):
        raise RuntimeError(f"{succeeded} of {len(ids)} DBOS workflows succeeded")
    return float(seconds)


def _measure(dsn: str, label: str, workflows: int, threads: int) -> dict[str, float]:
    ids = [f"bench-{label}-{n}" for n in range(workflows)]
    if threads <= 1:
        for workflow_id in ids:
            _run(workflow_id)
    else:
        with ThreadPoolExecutor(max_workers=threads) as pool:
            list(pool.map(_run, ids))
    seconds = _span_seconds(dsn, ids)
    steps = workflows * STEPS
    return {
        "workflows": workflows,
        "threads": threads,
        "steps": steps,
        "seconds": seconds,
        "steps_per_s": steps / seconds,
        "clock": "dbos.workflow_status created_at -> completed_at",
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.peers.dbos_run", description=__doc__)
    parser.add_argument("--dsn", required=True, help="an existing, empty database")
    parser.add_argument("--sequential", type=int, required=True, help="workflows, one by one")
    parser.add_argument("--threaded", type=int, required=True, help="workflows, from threads")
    parser.add_argument("--threads", type=int, default=4)
    args = parser.parse_args(argv)
    logging.getLogger("dbos").setLevel(logging.WARNING)
    config: DBOSConfig = {
        "name": "noetl-bench",
        "system_database_url": sqlalchemy_url(args.dsn),
        "log_level": "WARNING",
    }
    DBOS(config=config)
    DBOS.launch()
    try:
        _measure(args.dsn, "warmup", 4, 1)
        figures = {
            "sequential": _measure(args.dsn, "sequential", args.sequential, 1),
            "threaded": _measure(args.dsn, "threaded", args.threaded, args.threads),
        }
    finally:
        DBOS.destroy()
    print(json.dumps(figures))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
