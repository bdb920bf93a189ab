"""The duckdb tool on a real worker: bound params, rows like postgres, SQL errors."""

from __future__ import annotations

from tests.integration.worker.conftest import run_commands


def test_rows_params_a_file_database_and_an_sql_error(dsn, tmp_path):
    database = str(tmp_path / "d.duckdb")
    create = "CREATE TABLE t AS SELECT range AS n, 'x' || range AS s FROM range(3)"
    named, positional, made, read, bad = run_commands(
        dsn,
        ("duckdb", {"query": "SELECT $a + 1 AS b, $t AS t", "params": {"a": 41, "t": "hi"}}),
        ("duckdb", {"query": "SELECT ? * 2 AS d", "params": [21]}),
        ("duckdb", {"command": create, "database": database}),
        (
            "duckdb",
            {"query": "SELECT * FROM t WHERE n >= $m", "params": {"m": 1}, "database": database},
        ),
        ("duckdb", {"query": "SELECT * FROM missing_table"}),
        concurrency=1,  # in order: the table is made before it is read
    )
    assert named["payload"]["response"] == {
        "rows": [{"b": 42, "t": "hi"}],
        "row_count": 1,
        "columns": ["b", "t"],
    }
    assert positional["payload"]["response"]["rows"] == [{"d": 42}]
    assert made["status"] == "ok"
    assert read["payload"]["response"]["rows"] == [{"n": 1, "s": "x1"}, {"n": 2, "s": "x2"}]
    error = bad["payload"]["error"]
    assert error["kind"] == "sql" and "missing_table" in error["message"]
