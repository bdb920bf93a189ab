"""The mixed playbook the kill and restart runs execute, and what each execution must end
with.

start (noop) branches on the parity of n: `even` (python) or `odd` (postgres); both go to
`fetch` (http against the flaky server, retried), then `scale` (a parallel python loop
over three items), then `record` (one idempotent postgres insert of a row per step into
`public.chaos_results`), then `end` (noop), whose args are the execution's result.

Tool runs are at least once (a worker killed after the tool ran but before its report
committed runs it again elsewhere), except SQL on the orchestrator's own database, which
commits together with its report: exactly once. `record` is such SQL; every run of it is
logged in `chaos_tool_runs` (no key), and the suite asserts exactly one row there per
execution. Its results insert still says `ON CONFLICT DO NOTHING`, as SQL against another
database would have to.
"""

from __future__ import annotations

from typing import Any

PATH = "chaos/mixed"

# A command whose worker is killed three times in a row uses up its lease attempts and is
# reported as a `lease_expired` failure; a step may retry that like any failure.
LEASE_RETRY = """
      - when: >-
          {{ event.name == 'call.done' and error is defined
             and error.kind == 'lease_expired' }}
        then: {retry: {max_attempts: 4, initial_delay: 0.1}}"""

PLAYBOOK = f"""
apiVersion: noetl.io/v2
kind: Playbook
metadata: {{name: chaos_mixed, path: {PATH}}}
workload:
  n: 0
  base_url: http://127.0.0.1:9
  fail_times: 2
  items: [1, 2, 3]
workflow:
  - step: start
    args: {{n: "{{{{ workload.n }}}}"}}
    tool: {{kind: noop}}
    case:{LEASE_RETRY}
      - when: "{{{{ event.name == 'call.done' and response.n % 2 == 0 }}}}"
        then: {{next: [even]}}
      - when: "{{{{ event.name == 'call.done' }}}}"
        then: {{next: [odd]}}

  - step: even
    args: {{n: "{{{{ workload.n }}}}"}}
    tool:
      kind: python
      code: |
        def main(n):
            return {{"branch": "even", "value": n * n}}
    case:{LEASE_RETRY}
      - when: "{{{{ event.name == 'call.done' and error is not defined }}}}"
        then: {{set: {{ctx: {{branch: "{{{{ response }}}}"}}}}}}
    next: fetch

  - step: odd
    tool:
      kind: postgres
      query: "SELECT 'odd' AS branch, %(n)s::int + 1000 AS value"
      params: {{n: "{{{{ workload.n }}}}"}}
    case:{LEASE_RETRY}
      - when: "{{{{ event.name == 'call.done' and error is not defined }}}}"
        then: {{set: {{ctx: {{branch: "{{{{ response.rows[0] }}}}"}}}}}}
    next: fetch

  - step: fetch
    tool:
      kind: http
      method: GET
      endpoint: "{{{{ workload.base_url }}}}/flaky"
      params:
        key: "{{{{ execution_id }}}}"
        fail_times: "{{{{ workload.fail_times }}}}"
      timeout: 10
    case:
      - when: "{{{{ event.name == 'call.done' and error is defined }}}}"
        then:
          retry: {{max_attempts: 8, initial_delay: 0.1, backoff_multiplier: 2, max_delay: 1}}
    next: scale

  - step: scale
    loop: {{in: "{{{{ workload.items }}}}", iterator: item, mode: parallel}}
    args: {{x: "{{{{ item }}}}", n: "{{{{ workload.n }}}}"}}
    tool:
      kind: python
      code: |
        def main(x, n):
            return x * 10 + n
    case:{LEASE_RETRY}
    next: record

  - step: record
    tool:
      kind: postgres
      command: |
        WITH v AS (
            SELECT %(eid)s::text AS execution_id, key AS step, value
              FROM jsonb_each(%(values)s::jsonb)
        ), ran AS (
            INSERT INTO public.chaos_tool_runs (execution_id, step) VALUES (%(eid)s, 'record')
        ), ins AS (
            INSERT INTO public.chaos_results (execution_id, step, value)
            SELECT execution_id, step, value FROM v
            ON CONFLICT (execution_id, step) DO NOTHING
        )
        SELECT count(*) AS total FROM v
      params:
        eid: "{{{{ execution_id }}}}"
        values: >-
          {{{{ {{'branch': ctx.branch.value, 'fetch': fetch.data.ok,
                'scale': scale | sum}} | tojson }}}}
    case:{LEASE_RETRY}
    next: end

  - step: end
    args:
      n: "{{{{ workload.n }}}}"
      branch: "{{{{ ctx.branch }}}}"
      fetched: "{{{{ fetch.data.ok }}}}"
      scaled: "{{{{ scale }}}}"
      recorded: "{{{{ record.rows[0].total }}}}"
    tool: {{kind: noop}}
    case:{LEASE_RETRY}
"""

RESULTS_TABLES = """
CREATE TABLE IF NOT EXISTS public.chaos_results (
    execution_id text NOT NULL,
    step text NOT NULL,
    value jsonb NOT NULL,
    PRIMARY KEY (execution_id, step)
);
CREATE TABLE IF NOT EXISTS public.chaos_tool_runs (
    execution_id text NOT NULL,
    step text NOT NULL,
    at timestamptz NOT NULL DEFAULT clock_timestamp()
);
"""


def workload(n: int, base_url: str) -> dict[str, Any]:
    return {"n": n, "base_url": base_url, "fail_times": 2, "items": [1, 2, 3]}


def branch(n: int) -> dict[str, Any]:
    if n % 2 == 0:
        return {"branch": "even", "value": n * n}
    return {"branch": "odd", "value": n + 1000}


def expected_result(n: int) -> dict[str, Any]:
    return {
        "n": n,
        "branch": branch(n),
        "fetched": True,
        "scaled": [10 + n, 20 + n, 30 + n],
        "recorded": 3,
    }


def expected_rows(n: int) -> dict[str, Any]:
    """The rows of `chaos_results` for execution n: step -> value."""
    return {"branch": branch(n)["value"], "fetch": True, "scale": 60 + 3 * n}


def steps(n: int) -> dict[str, int]:
    """The steps execution n runs and their successful calls."""
    return {
        "start": 1,
        "even" if n % 2 == 0 else "odd": 1,
        "fetch": 1,
        "scale": 3,
        "record": 1,
        "end": 1,
    }
