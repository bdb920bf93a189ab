"""`/metrics` after a real run (gateway, engine and worker processes): the gauges read from
the tables moved, the request counters counted, and every metric the example alert rules
and Grafana dashboard name is one the gateway exports."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import httpx
import yaml
from prometheus_client.parser import text_string_to_metric_families

from tests.integration.console.support import FAILING, HELLO, WORKTREE, daemons, start, status
from tests.integration.gateway.support import register
from tests.support.processes import free_port, wait_until

RULED = """\
apiVersion: noetl.io/v2
kind: Playbook
metadata: {name: ruled, path: console/ruled}
workflow:
  - step: start
    tool: {kind: noop}
    case:
      - when: "{{ event.name == 'signal' }}"
        then: {next: [{step: end}]}
      - when: "{{ event.name == 'step.exit' }}"
        then: {next: [{step: end}]}
  - step: end
    tool: {kind: noop}
"""
MONITORING = Path(WORKTREE) / "docs" / "monitoring"
METRIC = re.compile(r"\bnoetl_[a-z_]+\b")


def _samples(api) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    response = api.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(response.text)
        for sample in family.samples
    }


def test_metrics_move_after_a_real_run(api, dsn, tmp_path):
    before = _samples(api)
    assert before[("noetl_executions", (("status", "completed"),))] == 0
    register(api, HELLO)
    register(api, FAILING)
    with daemons(dsn, tmp_path, "engine", "worker"):
        ids = [start(api, "console/hello"), start(api, "console/failing")]
        wait_until(
            lambda: all(
                api.get(f"/api/v2/executions/{i}").json()["status"] in ("completed", "failed")
                for i in ids
            ),
            "both runs finish",
        )
    after = _samples(api)
    assert after[("noetl_executions", (("status", "completed"),))] == 1
    assert after[("noetl_executions", (("status", "failed"),))] == 1
    assert after[("noetl_queue_commands", (("status", "done"),))] == 3
    assert after[("noetl_queue_commands", (("status", "failed"),))] == 1
    assert after[("noetl_recent_events_applied", ())] > 0
    assert after[("noetl_recent_commands_generated", ())] == 4
    assert after[("noetl_recent_commands_failed", ())] == 1
    assert after[("noetl_workers_seen", ())] == 1
    assert after[("noetl_events_unapplied", ())] == 0
    assert _events_posted(after) - _events_posted(before) == 2  # the counters are per process


def _events_posted(samples: dict) -> float:
    return sum(
        value
        for (name, labels), value in samples.items()
        if name == "noetl_gateway_requests_total"
        and ("route", "/api/v2/events") in labels
        and ("method", "POST") in labels
    )


def _names_in_examples() -> set[str]:
    rules = yaml.safe_load((MONITORING / "alerts.yml").read_text())
    exprs = [rule["expr"] for group in rules["groups"] for rule in group["rules"]]
    dashboard = json.loads((MONITORING / "grafana-dashboard.json").read_text())
    exprs += [target["expr"] for panel in dashboard["panels"] for target in panel["targets"]]
    return {name for expr in exprs for name in METRIC.findall(expr)}


def test_every_metric_the_alerts_and_dashboard_name_is_exported(api):
    api.get("/api/v2/health")  # so the request metrics have samples
    exported = {name for name, _ in _samples(api)}
    named = _names_in_examples()
    assert len(named) >= 10
    assert sorted(named - exported) == []


def test_the_alert_rules_pass_promtool_where_it_is_installed():
    promtool = shutil.which("promtool")
    rules = yaml.safe_load((MONITORING / "alerts.yml").read_text())
    alerts = {rule["alert"] for group in rules["groups"] for rule in group["rules"]}
    assert {"NoetlBacklogGrowing", "NoetlNoEngineApplying"} <= alerts
    if promtool:
        subprocess.run([promtool, "check", "rules", str(MONITORING / "alerts.yml")], check=True)


def test_the_engine_and_worker_serve_their_own_metrics(api, dsn, tmp_path):
    register(api, HELLO)
    register(api, FAILING)
    register(api, RULED)
    ports = {"engine": free_port(), "worker": free_port()}
    extra = {kind: ["--metrics-port", str(port)] for kind, port in ports.items()}
    with daemons(dsn, tmp_path, "engine", "worker", extra=extra):
        ids = [start(api, p) for p in ("console/hello", "console/failing", "console/ruled")]
        wait_until(
            lambda: all(status(api, i) in ("completed", "failed") for i in ids), "all finish"
        )
        scraped = {
            kind: _samples(httpx.Client(base_url=f"http://127.0.0.1:{port}"))
            for kind, port in ports.items()
        }
    engine, worker = scraped["engine"], scraped["worker"]
    assert engine[("noetl_engine_events_applied_total", ())] >= 2
    assert engine[("noetl_engine_batch_events_count", ())] >= 1
    rules = {  # the worker applies call.done itself when it can (the fast path)
        result: sum(
            samples[("noetl_engine_rules_evaluated_total", (("result", result),))]
            for samples in (engine, worker)
        )
        for result in ("held", "not_held")
    }
    assert rules["held"] == 1  # RULED's second rule, on its step.exit
    assert rules["not_held"] >= 2  # the first rule on each event, the second on the others
    assert worker[("noetl_worker_commands_total", (("outcome", "ok"),))] == 5
    assert worker[("noetl_worker_commands_total", (("outcome", "error"),))] == 1
    assert worker[("noetl_worker_tool_duration_seconds_count", ())] == 6
    assert worker[("noetl_worker_concurrency", ())] == 4
    for samples, daemon in ((engine, "engine"), (worker, "worker")):
        woken = [
            v
            for (n, labels), v in samples.items()
            if n == "noetl_daemon_wakeups_total" and ("daemon", daemon) in labels
        ]
        assert sum(woken) >= 1
