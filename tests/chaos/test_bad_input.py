"""Bad input, fuzzed: nothing crashes, nothing answers 500, nothing loops.

- random and mutated playbooks into `parse_playbook` (only PlaybookError escapes) and
  into `POST /api/v2/engine/register-playbook` (never a 5xx);
- random events into `POST /api/v2/events` (never a 5xx) and into `noetl.event` by SQL
  (each is recorded — applied or refused with an error — and the engine goes on: it
  still completes a normal execution afterwards, and stops producing events);
- template injection (data that looks like a template stays data) and sandbox escapes;
- huge payloads and non-UTF-8 bytes;
- a python tool that exits the interpreter, kills itself or allocates without bound
  (the worker survives and runs the next command).
"""

from __future__ import annotations

import copy
import json
import os
import time
from collections.abc import Iterator
from typing import Any

import httpx
import psycopg
import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from noetl_pg.dsl import PlaybookError, TemplateError, parse_playbook, render_value
from noetl_pg.store.db import connect
from tests.chaos import mixed
from tests.chaos.support import running_cluster, wait_for
from tests.support.catalog import register_playbook

pytestmark = pytest.mark.chaos

FUZZ = settings(
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
    derandomize=True,  # CI runs the same examples every time
)

CHAIN = """
apiVersion: noetl.io/v2
kind: Playbook
metadata: {name: echo, path: chaos/echo}
workload: {s: hello}
workflow:
  - step: start
    args: {v: "{{ workload.s }}"}
    tool: {kind: noop}
    next: end
  - step: end
    args: {v: "{{ start.v }}"}
    tool: {kind: noop}
"""

# --- strategies ------------------------------------------------------------------------

# Text PostgreSQL can store (no NUL, no lone surrogates) for the SQL fuzzing.
storable_text = st.text(
    st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"), max_size=30
)
json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**40), 2**40) | storable_text,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(storable_text, inner, max_size=4),
    max_leaves=12,
)
EVENT_NAMES = [
    "workflow.start",
    "workflow.cancel",
    "call.done",
    "step.enter",
    "step.exit",
    "loop.done",
    "workflow.complete",
    "workflow.failed",
]
TEMPLATE_BITS = [
    "{{",
    "}}",
    "{%",
    "%}",
    "{{ x }}",
    "{{ ''.__class__ }}",
    "{% for %}",
    "{{ event.",
    "\x00",
    "\ud800",
    "\t",
    ": ",
    "- ",
    "&a",
    "*a",
    "!!python/object:os.system",
    "'",
    '"',
]
BASE = yaml.safe_load(mixed.PLAYBOOK)


def _paths(node: Any, prefix: tuple = ()) -> Iterator[tuple]:
    yield prefix
    if isinstance(node, dict):
        for key, value in node.items():
            yield from _paths(value, (*prefix, key))
    elif isinstance(node, list):
        for index, value in enumerate(node):
            yield from _paths(value, (*prefix, index))


def _mutate(doc: Any, data: st.DataObject) -> Any:
    doc = copy.deepcopy(doc)
    for _ in range(data.draw(st.integers(1, 4))):
        paths = [p for p in _paths(doc) if p]
        if not paths:
            return data.draw(json_values)
        path = data.draw(st.sampled_from(paths))
        parent = doc
        for key in path[:-1]:
            parent = parent[key]
        last = path[-1]
        action = data.draw(st.sampled_from(["replace", "delete", "rename", "template", "dup"]))
        if action == "replace":
            parent[last] = data.draw(json_values)
        elif action == "delete":
            del parent[last]
        elif action == "rename" and isinstance(parent, dict):
            parent[data.draw(storable_text)] = parent.pop(last)
        elif action == "template":
            parent[last] = "".join(data.draw(st.lists(st.sampled_from(TEMPLATE_BITS), max_size=5)))
        elif action == "dup" and isinstance(parent, list):
            parent.append(copy.deepcopy(parent[last]))
    return doc


@st.composite
def playbook_texts(draw: st.DrawFn) -> str:
    kind = draw(st.sampled_from(["mutated", "mutated", "text", "bits", "spliced"]))
    if kind == "mutated":
        return yaml.safe_dump(_mutate(BASE, draw(st.data())), allow_unicode=True)
    if kind == "text":
        return draw(st.text(max_size=200))
    if kind == "bits":
        return "".join(draw(st.lists(st.sampled_from(TEMPLATE_BITS), max_size=20)))
    text = mixed.PLAYBOOK
    at = draw(st.integers(0, len(text)))
    cut = draw(st.integers(0, 40))
    return text[:at] + draw(st.text(max_size=20)) + text[at + cut :]


# --- the playbook validator ------------------------------------------------------------


@settings(FUZZ, max_examples=300)
@given(playbook_texts())
def test_parse_playbook_raises_only_playbook_error(text):
    try:
        parse_playbook(text, source="fuzz.yaml")
    except PlaybookError as exc:
        assert str(exc)
        for problem in exc.problems:
            assert problem.message


# --- one engine, one worker, one gateway for the rest ----------------------------------


@pytest.fixture(scope="module")
def stack(pg_server, chaos_databases, tmp_path_factory):
    if not pg_server.is_running():
        pg_server.start()
    dsn = chaos_databases.fresh()
    with connect(dsn, autocommit=True) as conn:
        register_playbook(conn, CHAIN)
    logs = tmp_path_factory.mktemp("bad-input-logs")
    with running_cluster(dsn, logs, engines=1, workers=1) as cluster:
        with httpx.Client(base_url=cluster.gateway_url, timeout=60) as client:
            yield dsn, client, cluster
        cluster.check_alive()


def _assert_clean_answer(answer: httpx.Response) -> None:
    assert answer.status_code < 500, (answer.status_code, answer.text[:500])
    if answer.status_code >= 400:
        body = answer.json()
        assert set(body["error"]) >= {"code", "message"}, body
        assert "Traceback" not in answer.text


@settings(FUZZ, max_examples=80)
@given(text=playbook_texts(), as_yaml=st.booleans())
def test_register_endpoint_never_answers_5xx(stack, text, as_yaml):
    _dsn, client, _cluster = stack
    text = text.encode("utf-8", "surrogatepass").decode("utf-8", "replace")
    if as_yaml:
        body = text.encode()
        answer = client.post(
            "/api/v2/engine/register-playbook",
            content=body,
            headers={"Content-Type": "application/yaml"},
        )
    else:
        answer = client.post(
            "/api/v2/engine/register-playbook",
            content=json.dumps({"playbook_yaml": text}).encode(),
            headers={"Content-Type": "application/json"},
        )
    _assert_clean_answer(answer)


def test_problems_quoting_a_lone_surrogate_are_4xx(stack):
    _dsn, client, _cluster = stack
    answer = client.post(
        "/api/v2/engine/register-playbook",
        # YAML's "\\uD800" escape makes a lone surrogate, which the problem then quotes.
        content=json.dumps(
            {
                "playbook_yaml": "apiVersion: noetl.io/v2\nkind: Playbook\n"
                'metadata: {name: x}\nworkflow:\n  - step: start\n    tool: "\\uD800"\n'
            }
        ).encode(),
        headers={"Content-Type": "application/json"},
    )
    _assert_clean_answer(answer)


event_bodies = st.fixed_dictionaries(
    {},
    optional={
        "name": st.sampled_from([*EVENT_NAMES, "x", ""]) | st.text(max_size=10) | json_values,
        "execution_id": st.sampled_from(["echo-target", "nope"]) | st.text(max_size=70),
        "step": st.sampled_from(["start", "end", "nope"]) | json_values,
        "payload": json_values,
        "path": st.sampled_from(["chaos/echo", "nope"]) | json_values,
        "workload": json_values,
        "version": json_values,
        "queue_id": st.integers() | json_values,
        "worker_id": json_values,
        "attempt": json_values,
    },
)


@settings(FUZZ, max_examples=150)
@given(body=event_bodies | json_values, raw=st.none() | st.binary(max_size=60))
def test_random_events_over_http_never_answer_5xx(stack, body, raw):
    _dsn, client, _cluster = stack
    content = raw if raw is not None else json.dumps(body).encode()
    answer = client.post(
        "/api/v2/events",
        params={"wait": 0},
        content=content,
        headers={"Content-Type": "application/json"},
    )
    _assert_clean_answer(answer)


sql_events = st.lists(
    st.tuples(
        st.sampled_from(["echo-target", "nope", "sql-fuzz-new"]) | storable_text,
        st.sampled_from(EVENT_NAMES) | storable_text,
        st.none() | st.sampled_from(["start", "end", "ghost"]) | storable_text,
        json_values
        | st.fixed_dictionaries(
            {"path": st.sampled_from(["chaos/echo", "nope"]) | json_values},
            optional={"workload": json_values, "version": json_values, "error": json_values},
        )
        | st.fixed_dictionaries({"response": json_values}),
        st.none() | st.integers(-(2**40), 2**40),
    ),
    min_size=1,
    max_size=8,
)


def _start_echo(conn, execution_id: str, workload: dict[str, Any]) -> None:
    conn.execute(
        "INSERT INTO noetl.event (execution_id, event_type, payload)"
        " VALUES (%s, 'workflow.start', %s::jsonb)",
        [execution_id, json.dumps({"path": "chaos/echo", "workload": workload})],
    )


def _finished(conn, execution_id: str) -> dict[str, Any] | None:
    row = conn.execute(
        "SELECT status, result, error FROM noetl.execution WHERE execution_id = %s",
        [execution_id],
    ).fetchone()
    return row if row and row["status"] in ("completed", "failed", "cancelled") else None


def _run(conn, execution_id: str, workload: dict[str, Any]) -> dict[str, Any]:
    _start_echo(conn, execution_id, workload)
    wait_for(lambda: _finished(conn, execution_id) is not None, f"{execution_id} finished")
    return _finished(conn, execution_id)


def _quiet(conn) -> bool:
    return (
        conn.execute("SELECT count(*) AS n FROM noetl.event WHERE processed_at IS NULL").fetchone()[
            "n"
        ]
        == 0
        and conn.execute(
            "SELECT count(*) AS n FROM noetl.queue WHERE status IN ('pending', 'leased')"
        ).fetchone()["n"]
        == 0
    )


def test_random_events_by_sql_are_recorded_and_the_engine_goes_on(stack):
    dsn, _client, cluster = stack
    with connect(dsn, autocommit=True) as conn:
        if _finished(conn, "echo-target") is None:
            assert _run(conn, "echo-target", {"s": "before"})["status"] == "completed"
        first_fuzzed = conn.execute("SELECT max(event_id) AS n FROM noetl.event").fetchone()["n"]

        @settings(FUZZ, max_examples=60)
        @given(sql_events)
        def insert(events):
            with conn.cursor() as cur:
                cur.executemany(
                    "INSERT INTO noetl.event"
                    " (execution_id, event_type, node_name, payload, queue_id)"
                    " VALUES (%s, %s, %s, %s::jsonb, %s)",
                    [(e, n, s, json.dumps(p), q) for e, n, s, p, q in events],
                )

        insert()
        # Every fuzzed event is recorded: applied, or refused with an error.
        wait_for(lambda: _quiet(conn), "every fuzzed event applied or refused")
        engine_names = EVENT_NAMES[3:]
        wrongly_applied = conn.execute(
            "SELECT event_id, event_type, error FROM noetl.event WHERE event_id > %s"
            " AND processed_at IS NOT NULL AND error IS NULL AND processed_by IS NOT NULL"
            " AND event_type <> ALL(%s) AND event_type NOT IN"
            " ('workflow.start', 'workflow.cancel', 'call.done')",
            [first_fuzzed, engine_names],
        ).fetchall()
        assert wrongly_applied == []
        refused = conn.execute(
            "SELECT count(*) AS n FROM noetl.event WHERE event_id > %s AND error IS NOT NULL",
            [first_fuzzed],
        ).fetchone()["n"]
        assert refused > 0
        # Engine names written by a client are refused, never applied.
        forged = conn.execute(
            "SELECT event_id, error FROM noetl.event WHERE event_id > %s"
            " AND event_type = ANY(%s) AND processed_by IS NOT NULL AND error IS NULL"
            " AND (payload ? 'engine') IS NOT TRUE AND processed_at > created_at",
            [first_fuzzed, engine_names],
        ).fetchall()
        assert forged == []
        # No loop: once quiet, the log stops growing.
        count = conn.execute("SELECT count(*) AS n FROM noetl.event").fetchone()["n"]
        time.sleep(3)  # three safety intervals of the daemons: a scenario step
        assert conn.execute("SELECT count(*) AS n FROM noetl.event").fetchone()["n"] == count
        stuck = conn.execute(
            "SELECT execution_id, status FROM noetl.execution"
            " WHERE status IN ('pending', 'running')"
        ).fetchall()
        assert stuck == []
        cluster.check_alive()
        # And it still runs a normal execution.
        after = _run(conn, "echo-after-fuzz", {"s": "after"})
        assert (after["status"], after["result"]) == ("completed", {"v": "after"})


# --- templates: injection and escapes --------------------------------------------------

INJECTED = [
    "{{ 7 * 7 }}",
    "{% for i in range(100000) %}{% for j in range(100000) %}x{% endfor %}{% endfor %}",
    "{{ ''.__class__.__mro__[1].__subclasses__() }}",
    "{{ cycler.__init__.__globals__.os.system('touch /tmp/noetl-chaos-pwned') }}",
]


def test_data_that_looks_like_a_template_stays_data(stack):
    dsn, _client, _cluster = stack
    with connect(dsn, autocommit=True) as conn:
        for n, text in enumerate(INJECTED):
            done = _run(conn, f"inject-{n}", {"s": text})
            assert (done["status"], done["result"]) == ("completed", {"v": text}), done
        # A secret placeholder arriving in data is refused, never filled in (no secret
        # exfiltration through data): the step fails and says why.
        done = _run(conn, "inject-secret", {"s": "{{ secret.PASSWORD }}"})
        assert done["status"] == "failed", done
        assert "never filled in" in done["error"], done
    assert not os.path.exists("/tmp/noetl-chaos-pwned")


ESCAPES = [
    "{{ ''.__class__.__mro__[1].__subclasses__() }}",
    "{{ cycler.__init__.__globals__.os.system('touch /tmp/noetl-chaos-pwned') }}",
    "{{ lipsum.__globals__['os'].popen('touch /tmp/noetl-chaos-pwned').read() }}",
    "{{ self.__init__.__globals__ }}",
    "{{ workload.__class__.__base__.__subclasses__() }}",
    "{{ range(10**9) | list }}",
    "{{ 'x' * 10**12 }}",
    "{{ (1).__class__ }}",
    "{{ {}.update.__self__ }}",
]
# Globals of other template hosts (Flask's `config`, `request`): no such name is in scope,
# so the playbook is refused before anything runs (DSL.md section 8).
REFUSED_BEFORE_RUNNING = ["{{ config }}", "{{ request.environ }}", "{{ config.items() }}"]


def _escape_playbook(n: int, template: str) -> str:
    return f"""
apiVersion: noetl.io/v2
kind: Playbook
metadata: {{name: escape{n}, path: chaos/escape{n}}}
workflow:
  - step: start
    args: {{v: {json.dumps(template)}}}
    tool: {{kind: noop}}
"""


def test_sandbox_escapes_fail_the_step_with_a_clear_error(stack):
    dsn, _client, cluster = stack
    with connect(dsn, autocommit=True) as conn:
        for n, template in enumerate(ESCAPES):
            register_playbook(conn, _escape_playbook(n, template))
            conn.execute(
                "INSERT INTO noetl.event (execution_id, event_type, payload)"
                " VALUES (%s, 'workflow.start', %s::jsonb)",
                [f"escape-{n}", json.dumps({"path": f"chaos/escape{n}"})],
            )
        for n, template in enumerate(ESCAPES):
            wait_for(lambda n=n: _finished(conn, f"escape-{n}") is not None, f"escape-{n}")
            done = _finished(conn, f"escape-{n}")
            if done["status"] == "completed":
                # Harmless (an undefined name renders empty): nothing escaped.
                assert "class" not in json.dumps(done["result"]), (template, done)
                continue
            assert done["status"] == "failed", (template, done)
            assert "start" in done["error"], (template, done["error"])
    assert not os.path.exists("/tmp/noetl-chaos-pwned")
    cluster.check_alive()


@pytest.mark.parametrize("template", REFUSED_BEFORE_RUNNING)
def test_foreign_globals_are_refused_before_running(template):
    with pytest.raises(PlaybookError) as info:
        parse_playbook(_escape_playbook(0, template), source="escape.yaml")
    (problem,) = info.value.problems
    assert (problem.source, problem.line, problem.step, problem.field) == (
        "escape.yaml",
        7,
        "start",
        "args.v",
    )
    assert "is not defined here" in problem.message


def test_the_sandbox_refuses_to_build_a_huge_value():
    with pytest.raises(TemplateError):
        render_value("{{ 'x' * 200000000 }}", {})


# --- huge and undecodable input --------------------------------------------------------


def test_huge_and_undecodable_bodies_are_refused_cleanly(stack):
    _dsn, client, _cluster = stack
    huge = json.dumps({"name": "workflow.start", "path": "chaos/echo", "pad": "x" * 3_000_000})
    _assert_clean_answer(
        answer := client.post(
            "/api/v2/events", content=huge, headers={"Content-Type": "application/json"}
        )
    )
    assert answer.status_code == 413
    for raw in [b'{"name": "\xff\xfe"}', b"\xc3\x28", b'{"name": "workflow.start"\x00}']:
        answer = client.post(
            "/api/v2/events", content=raw, headers={"Content-Type": "application/json"}
        )
        _assert_clean_answer(answer)
        assert answer.status_code == 400, answer.text
    answer = client.post(
        "/api/v2/engine/register-playbook",
        content=b"apiVersion: noetl.io/v2\nkind: \xff\xfe\n",
        headers={"Content-Type": "application/yaml"},
    )
    _assert_clean_answer(answer)
    assert 400 <= answer.status_code < 500


def test_a_big_workload_runs_and_a_huge_one_by_sql_is_handled(stack):
    dsn, client, _cluster = stack
    big = "y" * 400_000
    answer = client.post(
        "/api/v2/events",
        params={"wait": 0},
        json={
            "name": "workflow.start",
            "execution_id": "big-1",
            "path": "chaos/echo",
            "workload": {"s": big},
        },
    )
    assert answer.status_code in (200, 202), answer.text
    with connect(dsn, autocommit=True) as conn:
        wait_for(lambda: _finished(conn, "big-1") is not None, "big-1 finished")
        assert _finished(conn, "big-1")["result"] == {"v": big}
        # Past the worker's 1 MiB result limit: the step fails, clearly.
        done = _run(conn, "huge-1", {"s": "z" * 3_000_000})
        assert done["status"] == "failed", done
        assert "over the limit" in done["error"], done


# --- python tools that misbehave -------------------------------------------------------

ABUSE = {
    "exit": ("import os\n\ndef main():\n    os._exit(3)\n", "exit"),
    "kill": ("import os, signal\n\ndef main():\n    os.kill(os.getpid(), signal.SIGKILL)\n", ""),
    "sysexit": ("import sys\n\ndef main():\n    sys.exit(4)\n", "SystemExit"),
    # The worker has no memory limit for python tools (docs/worker.md): the code sets its
    # own, as the only safe way to allocate without bound on a shared machine.
    "memory": (
        "import resource\n\n"
        "def main():\n"
        "    resource.setrlimit(resource.RLIMIT_AS, (1 << 30, 1 << 30))\n"
        "    hog = []\n"
        "    while True:\n"
        "        hog.append(bytearray(1 << 24))\n",
        "MemoryError",
    ),
    "nul": ("def main():\n    return {'v': 'a\\x00b'}\n", ""),
    "surrogate": ("def main():\n    return {'v': '\\ud800'}\n", ""),
    "not_json": ("def main():\n    return object()\n", ""),
}


def _abuse_playbook(name: str, code: str) -> str:
    indented = "\n".join("        " + line for line in code.splitlines())
    return f"""
apiVersion: noetl.io/v2
kind: Playbook
metadata: {{name: abuse_{name}, path: chaos/abuse_{name}}}
workflow:
  - step: start
    tool:
      kind: python
      timeout: 60
      code: |
{indented}
"""


def test_python_tools_that_exit_crash_or_exhaust_memory_leave_the_worker_serving(stack):
    dsn, _client, cluster = stack
    worker_pid = cluster.pids("worker")[0]
    with connect(dsn, autocommit=True) as conn:
        for name, (code, expected) in ABUSE.items():
            register_playbook(conn, _abuse_playbook(name, code))
            conn.execute(
                "INSERT INTO noetl.event (execution_id, event_type, payload)"
                " VALUES (%s, 'workflow.start', %s::jsonb)",
                [f"abuse-{name}", json.dumps({"path": f"chaos/abuse_{name}"})],
            )
            wait_for(lambda n=name: _finished(conn, f"abuse-{n}") is not None, name)
            done = _finished(conn, f"abuse-{name}")
            assert done["status"] == "failed", (name, done)
            assert "start" in done["error"] and expected in done["error"], (name, done)
        cluster.check_alive()
        assert cluster.pids("worker") == [worker_pid]
        after = _run(conn, "after-abuse", {"s": "still here"})
        assert (after["status"], after["result"]) == ("completed", {"v": "still here"})


def test_non_utf8_and_nul_through_sql_are_refused_by_postgres_not_the_engine(stack):
    dsn, _client, _cluster = stack
    with psycopg.connect(dsn, autocommit=True) as conn:
        with pytest.raises(psycopg.DataError):
            conn.execute(
                "INSERT INTO noetl.event (execution_id, event_type, payload)"
                " VALUES ('nul', 'workflow.start', %s::jsonb)",
                ['{"path": "a\\u0000b"}'],
            )
        with pytest.raises(psycopg.DataError):
            conn.execute(
                "INSERT INTO noetl.event (execution_id, event_type, payload)"
                " VALUES ('bytes', 'workflow.start', convert_from('\\xff'::bytea, 'UTF8')::jsonb)"
            )
