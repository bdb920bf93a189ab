"""NoETL idioms -> this dialect: the migrated playbook, and a warning naming field and line."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from noetl_pg.dsl import Playbook, migrate_v1_to_v2_with_warnings, parse_playbook
from noetl_pg.dsl.migrate_sql import bind_sql_templates
from noetl_pg.dsl.migrate_templates import TemplateScope, rewrite_template

IDIOMS = Path(__file__).resolve().parents[2] / "fixtures" / "noetl_idioms"
FAILED = "event.name == 'call.done' and error is defined"
GOOD = "event.name == 'call.done' and error is not defined"


def migrate_text(text: str) -> tuple[Playbook, str, list[str]]:
    out, warnings = migrate_v1_to_v2_with_warnings(text)
    return parse_playbook(out, source="<migrated>"), out, warnings


def fixture(name: str) -> tuple[Playbook, str, list[str]]:
    return migrate_text((IDIOMS / f"{name}.yaml").read_text())


def inline(text: str) -> tuple[Playbook, str, list[str]]:
    return migrate_text(textwrap.dedent(text))


def test_call_error_becomes_a_failed_call_done():
    pb, _, warnings = fixture("call_error")
    rule = pb.step("call_flaky").case[0]
    assert rule.when == "{{ " + FAILED + " }}"
    assert rule.then[0].retry.max_attempts == 5
    assert warnings == [
        "line 20: step 'call_flaky' case[0].when: rewrote `event.name == 'call.error'`"
        f" -> `{FAILED}`"
    ]


def test_loop_index_job_uuid_status_code_and_step_result():
    pb, _, warnings = fixture("loop_index")
    assert pb.step("start").args["position"] == "{{ loop.index }}"
    assert warnings == ["line 18: step 'start' args.position: rewrote `loop_index` -> `loop.index`"]

    pb, _, warnings = fixture("job_uuid")
    assert pb.step("end").args == {
        "run": "{{ execution_id }}",
        "same": "{{ execution_id == execution_id }}",
    }
    assert warnings[0] == "line 13: step 'end' args.run: rewrote `job.uuid` -> `execution_id`"

    pb, _, warnings = fixture("status_code")
    rule = pb.step("start").case[0]
    assert rule.when == "{{ event.name == 'call.done' and response.status == 200 }}"
    assert rule.then[0].set == {"ctx": {"code": "{{ response.status }}"}}
    assert warnings == [
        "line 16: step 'start' case[0].when: rewrote `response.status_code` -> `response.status`",
        "line 19: step 'start' case[0].then.set.ctx.code: rewrote `response.status_code`"
        " -> `response.status`",
    ]

    pb, _, warnings = fixture("step_result")
    # in the step's own rules its name is its previous run: there it is `result`
    assert pb.step("start").next[0].args == {"label": "{{ result.label }}"}
    assert pb.step("end").args == {"total": "{{ start.total }}"}
    assert warnings == [
        "line 15: step 'start' next[0].args.label: rewrote `step.result` -> `result`",
        "line 18: step 'end' args.total: rewrote `start.result` -> `start`",
    ]


def test_bare_step_args_are_read_as_args():
    pb, _, warnings = fixture("bare_args")
    assert "'{{ args.a }}+{{ args.b }}'" in pb.step("start").tool.config()["code"]
    assert pb.step("end").args["doubled"] == "{{ args.n * 2 }}"  # passed to it by `next`
    assert warnings == [
        "line 12: step 'start' tool.code: rewrote `a` -> `args.a`, `b` -> `args.b`",
        "line 18: step 'end' args.doubled: rewrote `n` -> `args.n`",
    ]


def test_template_rewrites_leave_literals_attributes_filters_and_locals_alone():
    scope = TemplateScope(arg_names=frozenset({"length", "x", "job"}), step_names=frozenset())
    text = (
        "{{ 'loop_index' ~ \"job.uuid\" }} loop_index {{ a.loop_index | length }}"
        " {% for x in [1] %}{{ x }}{% endfor %} {{ f(x=1) }} {{ v is defined }}"
    )
    assert rewrite_template(text, scope) == (text, [])
    assert rewrite_template("{{ job.uuid }} {{ x }}", scope)[0] == "{{ execution_id }} {{ args.x }}"
    # a negated failed call, inside a larger expression
    out, changes = rewrite_template("{{ event.name != 'call.error' or x }}", TemplateScope())
    assert out == f"{{{{ not ({FAILED}) or x }}}}"
    assert changes


def test_sql_templates_become_bound_params_or_template_sql():
    pb, _, warnings = fixture("sql_templates")
    insert = pb.step("insert").tool.config()
    assert insert == {
        "command": "INSERT INTO idiom_sql_people (id, name) VALUES (%(id)s, %(name)s)",
        "params": {"id": "{{ workload.id }}", "name": "{{ workload.name }}"},
    }
    read_back = pb.step("read_back").tool.config()
    assert read_back == {
        "query": "SELECT id, name FROM {{ workload.table }} WHERE id = %(id)s AND name LIKE 'o%%'",
        "params": {"id": "{{ workload.id }}"},
        "template_sql": True,
    }
    assert warnings[0].startswith(
        "line 22: step 'insert' tool.command: Jinja in SQL text: `{{ workload.id }}` -> `%(id)s`"
    )
    assert warnings[1].startswith("line 27: step 'read_back' tool.query: Jinja in SQL text:")
    assert warnings[1].endswith("set `template_sql: true` (the SQL text is rendered on purpose)")


@pytest.mark.parametrize(
    ("sql", "params", "expected_sql", "template_sql"),
    [
        ("SELECT 1; SELECT {{ a }}", None, "SELECT 1; SELECT {{ a }}", True),
        ("{% if a %}SELECT 1{% endif %}", None, "{% if a %}SELECT 1{% endif %}", True),
        ("SELECT '%{{ q }}%'", None, "SELECT '%{{ q }}%'", True),
        ("SELECT * FROM t WHERE id IN ({{ a }}, {{ b }})", None, None, False),
        ("SELECT * FROM t WHERE id = {{ a }}", [1], "SELECT * FROM t WHERE id = {{ a }}", True),
        ("SELECT * FROM t LIMIT {{ n }} OFFSET {{ m }}", None, None, False),
    ],
)
def test_which_sql_templates_are_values(sql, params, expected_sql, template_sql):
    done = bind_sql_templates(sql, params)
    assert done.template_sql is template_sql
    if expected_sql is not None:
        assert done.sql == expected_sql
    else:
        assert "{{" not in done.sql and done.params
    assert done.changes


def test_sink_backend_table_from_becomes_a_sink_action_on_call_done():
    pb, _, warnings = fixture("sink_backend")
    (rule,) = pb.step("compute").case
    assert rule.when == "{{ " + GOOD + " }}"
    tool = rule.then[0].sink.tool
    assert tool.kind == "postgres"
    assert tool.config()["command"].startswith(
        "INSERT INTO idiom_sink_scores SELECT * FROM jsonb_populate_recordset("
        "NULL::idiom_sink_scores, "
    )
    assert tool.config()["params"] == {"rows": "{{ (response.rows) | tojson }}"}
    assert (
        "line 22: step 'compute' sink: became a `sink` action with a postgres tool running"
        " an INSERT into idiom_sink_scores" in warnings
    )
    assert "line 22: step 'compute' sink: moved to call.done: rewrote `result` -> `response`" in (
        warnings
    )


def test_flat_sink_and_save_become_inserts():
    pb, _, warnings = fixture("sink_flat")
    sink = pb.step("greet").case[0].then[0].sink.tool.config()
    assert sink == {
        "command": "INSERT INTO idiom_flat_messages (execution_id, message) VALUES"
        " (%(execution_id)s, %(message)s) ON CONFLICT (execution_id) DO UPDATE SET"
        " message = EXCLUDED.message",
        "params": {"execution_id": "{{ execution_id }}", "message": "{{ response.message }}"},
    }
    assert any(w.startswith("line 23: step 'greet' sink: became a `sink` action") for w in warnings)

    pb, _, warnings = fixture("save")
    sink = pb.step("count").case[0].then[0].sink.tool.config()
    assert sink["command"] == (
        "INSERT INTO idiom_saved (label, total) VALUES (%(label)s, %(total)s)"
    )
    assert any(w.startswith("line 19: step 'count' save: became a `sink` action") for w in warnings)


def test_other_sink_shapes():
    pb, _, warnings = inline(
        """\
        apiVersion: noetl.io/v2
        kind: Playbook
        metadata: {name: sinks}
        workflow:
          - step: start
            tool: {kind: noop}
            sink:
              - tool: postgres
                auth: pg_main
                statement: "INSERT INTO t (id, data) VALUES (:id, :data::jsonb)"
                params: {id: "{{ execution_id }}", data: "{{ result | tojson }}"}
              - {name: page, data: "{{ result }}"}
              - {storage: s3, bucket: b}
            case:
              - when: "{{ event.name == 'step.exit' }}"
                then:
                  sink:
                    tool: {kind: postgres, table: audit}
                    args: {step: start}
        """
    )
    step = pb.step("start")
    user_rule, sink_rule = step.case
    assert user_rule.then[0].sink.tool.config() == {
        "command": "INSERT INTO audit (step) VALUES (%(step)s)",
        "params": {"step": "start"},
    }
    then = sink_rule.then[0]
    assert then.set == {"ctx": {"page": "{{ response }}"}}
    assert then.sink.tool.config() == {
        "command": "INSERT INTO t (id, data) VALUES (%(id)s, %(data)s::jsonb)",
        "params": {"id": "{{ execution_id }}", "data": "{{ response | tojson }}"},
        "connection": "pg_main",
    }
    joined = "\n".join(warnings)
    assert "line 8: step 'start' sink: `:name` placeholders became `%(name)s`" in joined
    assert "line 8: step 'start' sink: `auth`/`credential` became `connection: pg_main`" in joined
    assert "line 13: step 'start' sink: a sink to 's3' cannot be translated (only postgres)" in (
        joined
    )


def test_vars_become_set_ctx_and_vars_reads_become_ctx():
    pb, _, warnings = fixture("vars")
    (rule,) = pb.step("start").case
    assert rule.when == "{{ " + GOOD + " }}"
    assert rule.then[0].set == {
        "ctx": {"user_id": "{{ response.user.id }}", "email": "{{ response.user.email }}"}
    }
    assert pb.step("end").args == {"user_id": "{{ ctx.user_id }}", "email": "{{ ctx.email }}"}
    assert warnings == [
        "line 14: step 'start' vars: moved to call.done: rewrote `result` -> `response`",
        "line 14: step 'start' vars: became `set: {ctx: ...}` in a rule on a successful"
        " call.done; `vars.x` is read as `ctx.x`",
        "line 20: step 'end' args.user_id: rewrote `vars` -> `ctx`",
        "line 21: step 'end' args.email: rewrote `vars` -> `ctx`",
    ]


def test_input_becomes_args():
    pb, _, warnings = fixture("input")
    assert pb.step("start").args == {"x": 4, "y": 5}
    assert warnings == ["line 9: step 'start' input: became `args` (the step's own inputs)"]


def test_retry_when_and_policy_lists_become_retry_rules():
    pb, _, warnings = fixture("retry_when")
    (rule,) = pb.step("start").case
    assert rule.when == "{{ " + FAILED + " and (error.status >= 500) }}"
    assert (rule.then[0].retry.max_attempts, rule.then[0].retry.initial_delay) == (5, 0.1)
    assert warnings == [
        "line 16: step 'start' retry: became a `case` rule on call.done with `retry` (error side)",
        "line 19: step 'start' retry.retry_when: rewrote `status_code` -> `error.status`",
    ]

    pb, _, warnings = fixture("retry_policies")
    (rule,) = pb.step("start").case
    assert rule.when == "{{ " + FAILED + " and (error.status in [500, 502, 503]) }}"
    assert rule.then[0].retry.backoff_multiplier == 2.0
    assert warnings == [
        "line 17: step 'start' retry[0]: became a `case` rule on call.done with `retry`"
        " (error side)"
    ]


def test_stop_when_polling_and_unknown_retry_fields():
    pb, _, warnings = inline(
        """\
        workflow:
          - step: start
            type: http
            endpoint: http://x/job
            retry:
              max_attempts: 4
              jitter: true
              retry_when: "{{ error is defined }}"
              stop_when: "{{ status_code == 404 }}"
          - step: poll
            tool: {kind: http, endpoint: http://x/job}
            retry:
              - when: "{{ response.state != 'DONE' }}"
                then: {max_attempts: 20, initial_delay: 1}
        """
    )
    (rule,) = pb.step("start").case
    assert rule.when == (
        "{{ " + FAILED + " and (error is defined) and not (error.status == 404) }}"
    )
    (poll,) = pb.step("poll").case
    assert poll.when == "{{ " + GOOD + " and (response.data.state != 'DONE') }}"
    assert poll.then[0].retry.max_attempts == 20
    assert (
        "line 13: step 'poll' retry[0].when: NoETL's `response` in a retry policy is the http"
        " body, here `response.data`: rewrote `response` -> `response.data`" in warnings
    )
    assert "line 7: step 'start': `retry.jitter` was not translated; left out: true" in warnings
    assert any("(success side)" in w and w.startswith("line 13: step 'poll'") for w in warnings)


def test_on_success_pagination_becomes_call_and_collect_rules():
    pb, _, warnings = fixture("on_success")
    step = pb.step("fetch_all")
    assert step.max_iterations == 10
    on_error, next_page, last_page = step.case
    assert on_error.when == "{{ " + FAILED + " and (error.status in [500, 502, 503]) }}"
    assert next_page.when == "{{ " + GOOD + " and (response.data.has_more == true) }}"
    assert next_page.then[0].call == {"params": {"page": "{{ (response.data.page | int) + 1 }}"}}
    collect = next_page.then[0].collect
    assert (collect.from_, collect.into, collect.mode) == ("response.data.items", "pages", "extend")
    assert last_page.when == "{{ " + GOOD + " }}"
    assert last_page.then[0].collect == collect
    assert last_page.then[0].result.from_ == "ctx.pages"
    assert pb.step("end").args == {"items": "{{ fetch_all }}"}
    assert (
        "line 26: step 'fetch_all' retry.on_success.while: NoETL's `response` in a retry policy"
        " is the http body, here `response.data`: rewrote `response` -> `response.data`" in warnings
    )
    assert "line 21: step 'fetch_all' retry.on_error: became a `case` rule on call.done with" in (
        "\n".join(warnings)
    )
    assert any(
        w.startswith("line 25: step 'fetch_all' retry.on_success: pagination became")
        for w in warnings
    )


def test_response_on_step_exit_is_result_and_set_lists_become_ctx():
    pb, _, warnings = fixture("step_exit_response")
    (rule,) = pb.step("start").case
    assert rule.when == "{{ event.name == 'step.exit' and result is defined }}"
    assert rule.then[0].set == {"ctx": {"healthy": "{{ result.data.ok }}"}}
    assert pb.step("end").args == {"healthy": "{{ ctx.healthy }}"}
    assert warnings[:2] == [
        "line 16: step 'start' case[0]: on step.exit: rewrote `response` -> `result`",
        "line 18: step 'start' case[0].then.set: a list of {name, value} became"
        " `set: {ctx: {name: value}}`",
    ]


def test_after_rules_become_step_exit_rules():
    pb, _, warnings = fixture("after")
    many, few = pb.step("start").case
    assert many.when == "{{ event.name == 'step.exit' and (result.n > 1) }}"
    assert [t.step for t in many.then[0].next] == ["many"]
    assert [t.step for t in few.then[0].next] == ["few"]
    assert warnings == [
        "line 13: step 'start' after: became a `case` rule on step.exit",
        "line 16: step 'start' after: became a `case` rule on step.exit",
    ]


def test_nothing_is_dropped_silently():
    _, _, warnings = inline(
        """\
        apiVersion: noetl.io/v2
        kind: Playbook
        metadata: {name: leftovers}
        workload:
          job_id: "{{ job.uuid }}"
        workflow:
          - step: start
            tool: {kind: noop}
            case:
              - when: "{{ event.name == 'call.done' }}"
                then: {set: {ctx: {seen: true}}}
            vars: {seen_too: true}
            after:
              - when: "{{ true }}"
        """
    )
    joined = "\n".join(warnings)
    assert (
        "line 5: workload: job_id: workload values are data here, not templates:"
        " '{{ job.uuid }}' stays as text" in joined
    )
    assert "line 7: step 'start': a `case` rule on call.done above the new rule fires first" in (
        joined
    )
    assert "line 14: step 'start' after: has no `then`; left out" in joined


def test_loop_spec_becomes_loop_fields():
    pb, _, warnings = inline(
        """\
        apiVersion: noetl.io/v2
        kind: Playbook
        metadata: {name: loops}
        workflow:
          - step: start
            loop:
              in: [1, 2]
              iterator: n
              spec: {mode: parallel, max_in_flight: 2, policy: fair}
            tool: {kind: noop}
        """
    )
    loop = pb.step("start").loop
    assert (loop.mode, loop.max_in_flight) == ("parallel", 2)
    assert warnings == [
        "line 9: step 'start' loop.spec: became loop fields: mode, max_in_flight;"
        ' left out: {"policy": "fair"}'
    ]
