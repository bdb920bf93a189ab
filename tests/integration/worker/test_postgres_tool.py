"""The postgres tool: bound parameters, JSON-safe values, SQL errors, connections."""

from __future__ import annotations

import pytest

from tests.integration.worker.conftest import run_commands, run_one

INJECTIONS = [
    "'); DROP TABLE noetl.queue; --",
    "Robert'); DROP TABLE students;--",
    "%(name)s %s {{ not_rendered }} \\' \" ; SELECT 1",
]


def test_select_with_named_params(dsn):
    event = run_one(
        dsn,
        "postgres",
        {"query": "SELECT %(a)s::int + 1 AS n, %(b)s::text AS s", "params": {"a": 41, "b": "x"}},
    )
    assert event["status"] == "ok"
    assert event["payload"]["response"] == {
        "rows": [{"n": 42, "s": "x"}],
        "row_count": 1,
        "columns": ["n", "s"],
    }


def test_positional_params(dsn):
    event = run_one(dsn, "postgres", {"query": "SELECT %s::int * 2 AS d", "params": [21]})
    assert event["payload"]["response"]["rows"] == [{"d": 42}]


@pytest.mark.parametrize("evil", INJECTIONS)
def test_injection_strings_in_params_are_stored_verbatim(dsn, conn, evil):
    conn.execute("CREATE TABLE public.notes (body text)")
    insert, select = run_commands(
        dsn,
        ("postgres", {"command": "INSERT INTO public.notes VALUES (%(b)s)", "params": {"b": evil}}),
        ("postgres", {"query": "SELECT body FROM public.notes"}),
        concurrency=1,  # in order
    )
    assert insert["payload"]["response"]["row_count"] == 1
    assert select["payload"]["response"]["rows"] == [{"body": evil}]
    assert conn.execute("SELECT body FROM public.notes").fetchall() == [{"body": evil}]
    assert conn.execute("SELECT to_regclass('noetl.queue') AS t").fetchone()["t"]


def test_several_statements_without_params_answer_with_the_last_result(dsn):
    sql = (
        "CREATE TABLE public.t (id int, v numeric); "
        "INSERT INTO public.t VALUES (1, 1.5), (2, 2.5); "
        "SELECT id, v FROM public.t ORDER BY id"
    )
    response = run_one(dsn, "postgres", {"command": sql})["payload"]["response"]
    assert response["rows"] == [{"id": 1, "v": 1.5}, {"id": 2, "v": 2.5}]
    assert response["row_count"] == 2


def test_values_are_made_json_safe(dsn):
    sql = """
        SELECT 12.50::numeric AS price, 12345678901234567890.123456789::numeric AS big,
               'NaN'::numeric AS nan, DATE '2024-02-29' AS d,
               TIMESTAMPTZ '2024-01-02 03:04:05+00' AS ts, '\\x0102ff'::bytea AS raw,
               'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11'::uuid AS id, '{"k": [1]}'::jsonb AS j,
               ARRAY[1, 2] AS arr, interval '90 seconds' AS span, NULL::text AS nothing
    """
    row = run_one(dsn, "postgres", {"query": sql})["payload"]["response"]["rows"][0]
    assert row["price"] == 12.5
    assert row["big"] == "12345678901234567890.123456789"
    assert row["nan"] == "NaN"
    assert row["d"] == "2024-02-29"
    assert row["ts"].startswith("2024-01-02T")
    assert row["raw"] == "AQL/"
    assert row["id"] == "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11"
    assert row["j"] == {"k": [1]}
    assert row["arr"] == [1, 2]
    assert row["span"] == 90.0
    assert row["nothing"] is None


def test_sql_error_is_a_failed_call_with_sqlstate(dsn):
    syntax, missing, division = run_commands(
        dsn,
        ("postgres", {"query": "SELEC 1"}),
        ("postgres", {"query": "SELECT * FROM public.nope"}),
        ("postgres", {"query": "SELECT 1 / %(zero)s::int", "params": {"zero": 0}}),
    )
    assert syntax["status"] == "error"
    assert syntax["payload"]["error"]["kind"] == "sql"
    assert syntax["payload"]["error"]["sqlstate"] == "42601"
    assert missing["payload"]["error"]["sqlstate"] == "42P01"
    assert "public.nope" in missing["payload"]["error"]["message"]
    assert division["payload"]["error"]["sqlstate"] == "22012"


def test_named_connection_from_the_environment(dsn, monkeypatch):
    monkeypatch.setenv("NOETL_CONNECTION_REPORTING", dsn)
    ok, unknown = run_commands(
        dsn,
        ("postgres", {"query": "SELECT current_database() AS db", "connection": "reporting"}),
        ("postgres", {"query": "SELECT 1", "connection": "nowhere"}),
    )
    assert ok["payload"]["response"]["rows"][0]["db"] in dsn
    assert unknown["payload"]["error"]["kind"] == "config"
    assert "NOETL_CONNECTION_NOWHERE" in unknown["payload"]["error"]["message"]


def test_unreachable_dsn_is_a_connection_error(dsn):
    event = run_one(
        dsn, "postgres", {"query": "SELECT 1", "connection": "postgresql://127.0.0.1:1/x"}
    )
    assert event["payload"]["error"]["kind"] == "connection"


def test_statement_timeout_is_a_timeout_error(dsn):
    slow, after = run_commands(
        dsn,
        ("postgres", {"query": "SELECT pg_sleep(30)", "timeout": 0.2}),
        ("postgres", {"query": "SELECT 1 AS one"}),
        concurrency=1,
    )
    assert slow["payload"]["error"]["kind"] == "timeout"
    assert slow["payload"]["error"]["sqlstate"] == "57014"
    assert after["payload"]["response"]["rows"] == [{"one": 1}]  # no timeout left behind
