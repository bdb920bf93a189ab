"""Each peer's runner measures what it says, where the peer is installed (`[bench]`).

The runners are the benchmark's only contact with DBOS and procrastinate; a test here
runs one tiny and checks its figures against the peer's own tables.
"""

from __future__ import annotations

import psycopg
import pytest

from bench.peers import DBOS, NOT_INSTALLED, PROCRASTINATE, sqlalchemy_url


def test_a_libpq_dsn_becomes_a_postgresql_url():
    assert sqlalchemy_url("host=db port=5433 dbname=b user=u password=p@ss") == (
        "postgresql://u:p%40ss@db:5433/b"
    )
    assert sqlalchemy_url("postgresql://127.0.0.1/x") == "postgresql://127.0.0.1:5432/x"


@pytest.mark.skipif(not DBOS.installed, reason=f"dbos {NOT_INSTALLED}")
def test_dbos_runs_sequential_and_threaded_workflows_of_ten_steps(databases):
    dsn = databases.fresh(migrated=False)

    figures = DBOS.run(dsn, ["--sequential", "2", "--threaded", "3", "--threads", "2"], 300)

    assert (figures["sequential"]["workflows"], figures["sequential"]["steps"]) == (2, 20)
    assert (figures["threaded"]["workflows"], figures["threaded"]["threads"]) == (3, 2)
    for mode in ("sequential", "threaded"):
        assert figures[mode]["seconds"] > 0
        assert figures[mode]["steps_per_s"] == figures[mode]["steps"] / figures[mode]["seconds"]
    with psycopg.connect(dsn) as conn:
        steps = conn.execute(
            "SELECT count(*) FROM dbos.operation_outputs WHERE workflow_uuid LIKE 'bench-%%'"
        ).fetchone()[0]
    assert steps == (4 + 2 + 3) * 10  # the warm-up's 4 workflows, then 2 and 3


@pytest.mark.skipif(not PROCRASTINATE.installed, reason=f"procrastinate {NOT_INSTALLED}")
def test_procrastinate_runs_the_jobs_with_its_concurrency(databases):
    dsn = databases.fresh(migrated=False)

    figures = PROCRASTINATE.run(dsn, ["--jobs", "7", "--concurrency", "3"], 300)

    assert (figures["jobs"], figures["concurrency"]) == (7, 3)
    assert figures["seconds"] > 0 and figures["jobs_per_s"] == 7 / figures["seconds"]
    with psycopg.connect(dsn) as conn:
        succeeded = conn.execute(
            "SELECT count(*) FROM procrastinate_jobs WHERE status = 'succeeded'"
        ).fetchone()[0]
    assert succeeded == 3 + 7  # the warm-up's `concurrency` jobs, then the measured ones
