"""The python tool: a separate, long-lived process pool with timeouts."""

from __future__ import annotations

from tests.integration.worker.conftest import run_commands, run_one


def test_main_gets_args_by_name_and_returns_a_result(dsn):
    code = "def main(a, b=2):\n    return {'sum': a + b, 'items': [a, b]}"
    event = run_one(dsn, "python", {"code": code}, {"a": 40})
    assert event["status"] == "ok"
    assert event["payload"]["response"] == {"sum": 42, "items": [40, 2]}


def test_exception_gives_type_message_and_traceback(dsn):
    code = "def helper(x):\n    raise ValueError(f'bad {x}')\n\ndef main(x):\n    helper(x)\n"
    error = run_one(dsn, "python", {"code": code}, {"x": 7})["payload"]["error"]
    assert error["kind"] == "python"
    assert error["type"] == "ValueError"
    assert error["message"] == "bad 7"
    assert "in helper" in error["traceback"]
    assert "<python tool code>" in error["traceback"]


def test_syntax_error_and_missing_main(dsn):
    syntax, missing = run_commands(
        dsn,
        ("python", {"code": "def main(:\n  pass"}),
        ("python", {"code": "x = 1"}),
    )
    assert syntax["payload"]["error"]["type"] == "SyntaxError"
    assert missing["payload"]["error"]["kind"] == "config"


def test_infinite_loop_is_stopped_by_its_timeout_and_the_pool_goes_on(dsn):
    loop, after = run_commands(
        dsn,
        ("python", {"code": "def main():\n    while True:\n        pass", "timeout": 0.5}),
        ("python", {"code": "def main():\n    return 'still here'"}),
        concurrency=1,
    )
    assert loop["payload"]["error"]["kind"] == "timeout"
    assert after["payload"]["response"] == "still here"


def test_queue_timeout_seconds_applies_when_the_tool_has_none(dsn, conn):
    from tests.integration.worker.conftest import insert_command, run_worker_until, unfinished

    queue_id = insert_command(
        conn,
        "python",
        {"code": "import time\ndef main():\n    time.sleep(60)"},
        timeout_seconds=0.5,
    )
    run_worker_until(dsn, lambda c: unfinished(c) == 0)
    event = conn.execute(
        "SELECT payload FROM noetl.event WHERE queue_id = %s", [queue_id]
    ).fetchone()
    assert event["payload"]["error"]["kind"] == "timeout"


def test_os_exit_and_sys_exit_do_not_kill_the_worker(dsn):
    hard, soft, after = run_commands(
        dsn,
        ("python", {"code": "import os\ndef main():\n    os._exit(3)"}),
        ("python", {"code": "import sys\ndef main():\n    sys.exit(2)"}),
        ("python", {"code": "def main():\n    return 'alive'"}),
        concurrency=1,
    )
    assert hard["payload"]["error"]["kind"] == "python"
    assert hard["payload"]["error"]["exit_code"] == 3
    assert "exited" in hard["payload"]["error"]["message"]
    assert soft["payload"]["error"]["kind"] == "python"
    assert soft["payload"]["error"]["type"] == "SystemExit"
    assert after["payload"]["response"] == "alive"


def test_not_json_return_value_is_a_clear_error(dsn):
    event = run_one(dsn, "python", {"code": "def main():\n    return {1, 2}"})
    assert event["payload"]["error"]["kind"] == "python"
    assert "not JSON-serialisable" in event["payload"]["error"]["message"]


def test_print_does_not_disturb_the_result(dsn):
    code = "def main():\n    print('hello from user code')\n    return 5"
    assert run_one(dsn, "python", {"code": code})["payload"]["response"] == 5


def test_async_main_is_awaited(dsn):
    code = "import asyncio\nasync def main(n):\n    await asyncio.sleep(0)\n    return n * 2"
    assert run_one(dsn, "python", {"code": code}, {"n": 4})["payload"]["response"] == 8


def test_one_process_serves_many_calls(dsn):
    code = "import os\ndef main():\n    return os.getpid()"
    events = run_commands(dsn, *[("python", {"code": code})] * 5, concurrency=1)
    assert len({e["payload"]["response"] for e in events}) == 1


def test_secrets_of_the_worker_are_not_in_the_child_environment(dsn, monkeypatch):
    monkeypatch.setenv("NOETL_SECRET_HIDDEN", "do-not-show-me")
    code = "import os\ndef main():\n    return os.environ.get('NOETL_SECRET_HIDDEN')"
    assert run_one(dsn, "python", {"code": code})["payload"]["response"] is None


def test_memory_cap_turns_a_runaway_allocation_into_memory_error(dsn):
    hog, after = run_commands(
        dsn,
        ("python", {"code": "def main():\n    return len(bytearray(800 * 1024 * 1024))"}),
        ("python", {"code": "def main():\n    return 'still here'"}),
        concurrency=1,
        python_memory_mb=300,
    )
    assert hog["payload"]["error"]["kind"] == "python"
    assert hog["payload"]["error"]["type"] == "MemoryError"
    assert after["payload"]["response"] == "still here"


def test_main_of_one_parameter_not_an_arg_name_gets_the_whole_mapping(dsn):
    whole, named, rest = run_commands(
        dsn,
        ("python", {"code": "def main(input_data):\n    return input_data"}, {"a": 1, "b": 2}),
        ("python", {"code": "def main(a):\n    return a"}, {"a": 5}),
        ("python", {"code": "def main(a, **kw):\n    return [a, kw]"}, {"a": 1, "b": 2}),
    )
    assert whole["payload"]["response"] == {"a": 1, "b": 2}
    assert named["payload"]["response"] == 5
    assert rest["payload"]["response"] == [1, {"b": 2}]


def test_a_failure_names_the_line_of_the_step_code(dsn):
    code = "def main(data):\n    x = 1\n    return data['b']\n"
    error = run_one(dsn, "python", {"code": code}, {"a": 1})["payload"]["error"]
    assert (error["type"], error["message"], error["line"]) == ("KeyError", "'b'", 3)
