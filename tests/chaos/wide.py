"""The second playbook of the scale run: the kinds the mixed one does not use.

`chaos/wide`: start (noop), `pause` (a durable 0.3 s timer), `gate` (a wait on the signal
`go`, which the starter sends through the gateway right after the start), `each` (a
sequential loop over a workbook python task), `child` (the sub-playbook `chaos/child`,
whose `square` step is duckdb), `end` (noop, the result). `chaos/tick` is a one-step
playbook with a schedule every second, so the engines' schedule scan is killed too.
"""

from __future__ import annotations

from typing import Any

from tests.chaos.mixed import LEASE_RETRY

PATH = "chaos/wide"
CHILD_PATH = "chaos/child"
TICK_PATH = "chaos/tick"
SIGNAL = "go"

CHILD = f"""
apiVersion: noetl.io/v2
kind: Playbook
metadata: {{name: chaos_child, path: {CHILD_PATH}}}
workload: {{n: 0}}
workflow:
  - step: start
    tool: {{kind: noop}}
    case:{LEASE_RETRY}
    next: square
  - step: square
    tool:
      kind: duckdb
      query: "SELECT $n * $n AS sq"
      params: {{n: "{{{{ workload.n }}}}"}}
    case:{LEASE_RETRY}
    next: end
  - step: end
    args: {{sq: "{{{{ square.rows[0].sq }}}}"}}
    tool: {{kind: noop}}
    case:{LEASE_RETRY}
"""

PLAYBOOK = f"""
apiVersion: noetl.io/v2
kind: Playbook
metadata: {{name: chaos_wide, path: {PATH}}}
workload: {{n: 0, items: [1, 2]}}
workbook:
  - name: triple
    tool:
      kind: python
      code: |
        def main(x, n):
            return x * 3 + n
workflow:
  - step: start
    tool: {{kind: noop}}
    case:{LEASE_RETRY}
    next: pause
  - step: pause
    tool: {{kind: wait, seconds: 0.3}}
    case:{LEASE_RETRY}
    next: gate
  - step: gate
    tool: {{kind: wait, signal: {SIGNAL}, timeout: 600}}
    case:{LEASE_RETRY}
    next: each
  - step: each
    loop: {{in: "{{{{ workload.items }}}}", iterator: item, mode: sequential}}
    args: {{x: "{{{{ item }}}}", n: "{{{{ workload.n }}}}"}}
    tool: {{kind: workbook, task: triple}}
    case:{LEASE_RETRY}
    next: child
  - step: child
    tool:
      kind: playbook
      path: {CHILD_PATH}
      args: {{n: "{{{{ workload.n }}}}"}}
    case:{LEASE_RETRY}
    next: end
  - step: end
    args:
      n: "{{{{ workload.n }}}}"
      by: "{{{{ gate.by }}}}"
      each: "{{{{ each }}}}"
      sq: "{{{{ child.sq }}}}"
    tool: {{kind: noop}}
    case:{LEASE_RETRY}
"""

TICK = f"""
apiVersion: noetl.io/v2
kind: Playbook
metadata: {{name: chaos_tick, path: {TICK_PATH}}}
schedules:
  - {{name: often, every: 1, overlap: allow, workload: {{tick: true}}}}
workflow:
  - step: start
    args: {{ticked: true}}
    tool: {{kind: noop}}
    case:{LEASE_RETRY}
"""


def workload(n: int) -> dict[str, Any]:
    return {"n": n, "items": [1, 2]}


def signal_data(n: int) -> dict[str, Any]:
    return {"by": f"client-{n}"}


def expected_result(n: int) -> dict[str, Any]:
    return {"n": n, "by": f"client-{n}", "each": [3 + n, 6 + n], "sq": n * n}


def steps(n: int) -> dict[str, int]:
    return {"start": 1, "pause": 1, "gate": 1, "each": 2, "child": 1, "end": 1}


CHILD_STEPS = {"start": 1, "square": 1, "end": 1}
TICK_STEPS = {"start": 1}
