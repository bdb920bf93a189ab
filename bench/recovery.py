"""`python -m bench.recovery`: how soon work flows again after PostgreSQL restarts.

A private embedded PostgreSQL (so it may be stopped) with one engine and one worker
process. For each outage length it stops the server (`fast`), waits, starts it, and times
how long until a new one-step execution completes. The floor, in the same run, is how
long a plain new connection takes to succeed after the same restart: the part no daemon
can avoid. Printed as a table: seconds after the restart, and the ratio to the floor.
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
import time
from pathlib import Path

import psycopg

from noetl_pg.store.db import connect
from noetl_pg.store.embedded import ensure_embedded_server
from noetl_pg.store.migrations import upgrade
from tests.support.catalog import register_playbook
from tests.support.processes import start_daemon, terminate

PLAYBOOK = """
apiVersion: noetl.io/v2
kind: Playbook
metadata: {name: recovery, path: bench/recovery}
workflow:
  - step: start
    tool: {kind: noop}
"""
START = (
    "INSERT INTO noetl.event (execution_id, event_type, payload)"
    " VALUES (%s, 'workflow.start', '{\"path\": \"bench/recovery\"}')"
)


def _retry(action, deadline: float):
    while True:
        try:
            return action()
        except psycopg.Error:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.02)


def _completed(dsn: str, execution_id: str) -> bool:
    with connect(dsn) as conn:
        row = conn.execute(
            "SELECT status FROM noetl.execution WHERE execution_id = %s", [execution_id]
        ).fetchone()
    return bool(row and row["status"] == "completed")


def time_one_execution(dsn: str, execution_id: str, limit: float = 120) -> float:
    """Seconds from now until a new execution completes (retrying while PG is away)."""
    began = time.monotonic()
    deadline = began + limit

    def start() -> None:
        with connect(dsn, autocommit=True) as conn:
            conn.execute(START, [execution_id])

    _retry(start, deadline)
    while not _retry(lambda: _completed(dsn, execution_id), deadline):
        if time.monotonic() > deadline:
            raise TimeoutError(f"{execution_id} did not complete within {limit}s")
        time.sleep(0.02)
    return time.monotonic() - began


def time_first_connection(dsn: str) -> float:
    began = time.monotonic()
    _retry(lambda: psycopg.connect(dsn).close(), began + 60)
    return time.monotonic() - began


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.recovery", description=__doc__)
    parser.add_argument("--outages", default="3,10,20", help="outage lengths in seconds")
    args = parser.parse_args(argv)
    outages = [float(x) for x in args.outages.split(",")]
    home = Path(tempfile.mkdtemp(prefix="noetl-bench-recovery-"))
    home.chmod(0o755)
    server = ensure_embedded_server(home, announce=False)
    dsn = server.dsn
    upgrade(dsn)
    with connect(dsn, autocommit=True) as conn:
        register_playbook(conn, PLAYBOOK)
    daemons = [
        start_daemon("engine", dsn, home / "logs", "--safety-interval", "1"),
        start_daemon("worker", dsn, home / "logs", "--safety-interval", "1"),
    ]
    rows = []
    try:
        warm = time_one_execution(dsn, "warm")
        for outage in outages:
            server.stop("fast")
            time.sleep(outage)
            server.start()
            floor = time_first_connection(dsn)
            ours = time_one_execution(dsn, f"after-{outage:g}s")
            rows.append((outage, ours, floor))
    finally:
        for daemon in daemons:
            terminate(daemon)
        server.stop("immediate")
        shutil.rmtree(home, ignore_errors=True)
    print(f"first execution, daemons just started: {warm:.2f} s")
    print(f"{'outage':>8} {'noetl s':>9} {'floor s':>9} {'ratio':>8}")
    for outage, ours, floor in rows:
        print(f"{outage:>7g}s {ours:>9.2f} {floor:>9.3f} {ours / max(floor, 1e-3):>7.0f}x")
    print("noetl: restart -> a new execution completed; floor: restart -> a plain connect")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
