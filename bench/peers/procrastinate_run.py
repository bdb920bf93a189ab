"""procrastinate's job overhead on the benchmark's server: no-op async jobs deferred in one
batch to a running worker of concurrency C, timed by procrastinate's own event rows.

`python -m bench.peers.procrastinate_run --dsn DSN --jobs N [--concurrency 10]` (the
database of DSN must exist; procrastinate's schema is applied there). Prints one JSON
object with jobs, concurrency, seconds and jobs_per_s. Runs in its own process.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import logging
import time

import procrastinate

DEFAULT_CONCURRENCY = 10


def build_app(dsn: str) -> tuple[procrastinate.App, procrastinate.tasks.Task]:
    app = procrastinate.App(connector=procrastinate.PsycopgConnector(conninfo=dsn))

    @app.task(name="noop")
    async def noop() -> None:
        return None

    return app, noop


async def _wait_done(app: procrastinate.App, ids: list[int], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while True:
        row = await app.connector.execute_query_one_async(
            "SELECT count(*) AS n FROM procrastinate_jobs"
            " WHERE id = ANY(%(ids)s) AND status = 'succeeded'",
            ids=ids,
        )
        if row["n"] >= len(ids):
            return
        if time.monotonic() > deadline:
            raise RuntimeError(f"only {row['n']} of {len(ids)} procrastinate jobs succeeded")
        await asyncio.sleep(0.05)


async def _measure(app, noop, jobs: int, timeout: float) -> float:
    """Defer `jobs` no-op jobs in one statement; first deferred to last succeeded, in s."""
    ids = await noop.batch_defer_async(*({} for _ in range(jobs)))
    await _wait_done(app, ids, timeout)
    row = await app.connector.execute_query_one_async(
        "SELECT extract(epoch FROM max(at) FILTER (WHERE type = 'succeeded')"
        "                        - min(at) FILTER (WHERE type = 'deferred'))::float8 AS s"
        "  FROM procrastinate_events WHERE job_id = ANY(%(ids)s)",
        ids=ids,
    )
    return row["s"]


async def run(dsn: str, jobs: int, concurrency: int, timeout: float) -> dict[str, object]:
    app, noop = build_app(dsn)
    async with app.open_async():
        await app.schema_manager.apply_schema_async()
        worker = asyncio.create_task(
            app.run_worker_async(
                concurrency=concurrency, install_signal_handlers=False, listen_notify=True
            )
        )
        try:
            await _measure(app, noop, concurrency, timeout)  # warm-up: the worker is up
            seconds = await _measure(app, noop, jobs, timeout)
        finally:
            worker.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await worker
    return {
        "jobs": jobs,
        "concurrency": concurrency,
        "seconds": seconds,
        "jobs_per_s": jobs / seconds,
        "clock": "procrastinate_events: first deferred -> last succeeded",
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench.peers.procrastinate_run", description=__doc__
    )
    parser.add_argument("--dsn", required=True, help="an existing, empty database")
    parser.add_argument("--jobs", type=int, required=True)
    parser.add_argument("--concurrency", type=int, default=DEFAULT_CONCURRENCY)
    parser.add_argument("--timeout", type=float, default=600.0)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    # it warns that the app lives in __main__; the task is named, so that is harmless
    logging.getLogger("procrastinate.blueprints").setLevel(logging.ERROR)
    figures = asyncio.run(run(args.dsn, args.jobs, args.concurrency, args.timeout))
    print(json.dumps(figures))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
