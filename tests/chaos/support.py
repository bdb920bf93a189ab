"""The chaos suite's machinery: a flaky HTTP server, a cluster of real daemons that can be
killed and restarted, a driver that kills them at random, and the exactness checks."""

from __future__ import annotations

import itertools
import json
import random
import subprocess
import threading
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import httpx
import psycopg

from tests.support.processes import free_port, kill, start_daemon, terminate, wait_until

# Hang guards only: the slowest honest run on a loaded 2-core machine stays far below.
EVENTUALLY = 240.0


# --- a local HTTP server with a flaky endpoint -----------------------------------------


class _FlakyHandler(BaseHTTPRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        pass

    def do_GET(self) -> None:
        url = urlsplit(self.path)
        query = dict(parse_qsl(url.query))
        server: FlakyServer = self.server.owner  # type: ignore[attr-defined]
        if url.path == "/flaky":
            key = query.get("key", "")
            fail_times = int(query.get("fail_times", "2"))
            seen = server.hit(key)
            if seen <= fail_times:
                self._json(503, {"error": f"request {seen} of {key} fails on purpose"})
            else:
                self._json(200, {"ok": True, "key": key})
        else:
            self._json(404, {"error": "no such route"})

    def _json(self, status: int, value: Any) -> None:
        body = json.dumps(value).encode()
        try:
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the worker that asked was killed


class FlakyServer:
    """`GET /flaky?key=K&fail_times=N`: 503 for the first N requests of key K, then 200."""

    def __init__(self) -> None:
        self.counts: Counter[str] = Counter()
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _FlakyHandler)
        self._server.owner = self  # type: ignore[attr-defined]
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def hit(self, key: str) -> int:
        with self._lock:
            self.counts[key] += 1
            return self.counts[key]

    def __enter__(self) -> FlakyServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()


# --- the daemons -----------------------------------------------------------------------


@dataclass
class Cluster:
    """Engines, workers and a gateway as real processes on one database."""

    dsn: str
    log_dir: Path
    engines: int = 2
    workers: int = 3
    gateway: bool = True
    safety_interval: float = 1.0
    lease_seconds: float = 3.0
    concurrency: int = 4
    processes: dict[str, list[subprocess.Popen[bytes]]] = field(default_factory=dict)
    gateway_url: str | None = None
    gateway_port: int = 0
    crashed: list[str] = field(default_factory=list)  # processes that died unasked
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def _spawn(self, kind: str) -> subprocess.Popen[bytes]:
        if kind == "engine":
            args = ["--safety-interval", str(self.safety_interval)]
        elif kind == "worker":
            args = [
                "--concurrency",
                str(self.concurrency),
                "--lease-seconds",
                str(self.lease_seconds),
                "--safety-interval",
                str(self.safety_interval),
            ]
        elif kind == "gateway":  # on the same port, so clients find it again
            args = ["--host", "127.0.0.1", "--port", str(self.gateway_port)]
        else:
            raise ValueError(kind)
        return start_daemon(kind, self.dsn, self.log_dir, *args)

    def start(self) -> None:
        self.processes["engine"] = [self._spawn("engine") for _ in range(self.engines)]
        self.processes["worker"] = [self._spawn("worker") for _ in range(self.workers)]
        if self.gateway:
            self.gateway_port = free_port()
            self.processes["gateway"] = [self._spawn("gateway")]
            self.gateway_url = f"http://127.0.0.1:{self.gateway_port}"
            self._wait_healthy()

    def _wait_healthy(self) -> None:
        deadline = time.monotonic() + EVENTUALLY
        while time.monotonic() < deadline:
            assert self.processes["gateway"][0].poll() is None, "the gateway died on start"
            try:
                if httpx.get(f"{self.gateway_url}/api/v2/health", timeout=5).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            time.sleep(0.1)
        raise AssertionError("the gateway never became healthy")

    def kill_and_restart(self, kind: str, index: int) -> None:
        """SIGKILL one daemon and start its replacement at once."""
        with self._lock:
            process = self.processes[kind][index]
            if process.poll() is not None:
                self.crashed.append(f"{kind} pid {process.pid} exited {process.returncode}")
            kill(process)
            self.processes[kind][index] = self._spawn(kind)

    def wait_ready(self, kind: str, stop: threading.Event, timeout: float = 60.0) -> None:
        """Until the gateway answers its health check, or every engine and worker holds
        its LISTEN connection (no later than `timeout`: PostgreSQL may be restarting)."""
        deadline = time.monotonic() + timeout
        expected = len(self.processes["engine"]) + len(self.processes["worker"])
        while time.monotonic() < deadline and not stop.is_set():
            try:
                if kind == "gateway":
                    url = f"{self.gateway_url}/api/v2/health"
                    if httpx.get(url, timeout=5).status_code == 200:
                        return
                else:
                    with psycopg.connect(self.dsn, autocommit=True, connect_timeout=5) as conn:
                        (listening,) = conn.execute(
                            "SELECT count(*) FROM pg_stat_activity"
                            f" WHERE datname = current_database() AND {LISTENERS}"
                        ).fetchone()
                    if listening >= expected:
                        return
            except (httpx.TransportError, psycopg.OperationalError):
                pass
            stop.wait(0.2)

    def check_alive(self) -> None:
        with self._lock:
            for kind, processes in self.processes.items():
                for process in processes:
                    if process.poll() is not None:
                        self.crashed.append(f"{kind} pid {process.pid} exited {process.returncode}")
        assert not self.crashed, f"daemons died without being killed: {self.crashed}"

    def pids(self, kind: str) -> list[int]:
        with self._lock:
            return [p.pid for p in self.processes.get(kind, [])]

    def stop(self) -> None:
        with self._lock:
            for processes in self.processes.values():
                for process in processes:
                    try:
                        terminate(process, timeout=30)
                    except subprocess.TimeoutExpired:
                        kill(process)


@contextmanager
def running_cluster(dsn: str, log_dir: Path, **options: Any) -> Iterator[Cluster]:
    cluster = Cluster(dsn, log_dir, **options)
    try:
        cluster.start()
        yield cluster
    finally:
        cluster.stop()


LISTENERS = "application_name LIKE '%%-listen'"


def terminate_listeners(dsn: str) -> int:
    """pg_terminate_backend every daemon's LISTEN connection; 0 while PostgreSQL is down."""
    try:
        with psycopg.connect(dsn, autocommit=True, connect_timeout=5) as conn:
            rows = conn.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                f" WHERE datname = current_database() AND {LISTENERS}"
            ).fetchall()
    except psycopg.OperationalError:
        return 0
    return sum(1 for (ok,) in rows if ok)


class KillDriver:
    """A thread that every `interval` seconds (a random value in the range) does the next
    of `kinds`, taken in a new random order each round (so every kind comes once in each
    `len(kinds)` faults): a daemon kind SIGKILLs a random process of that kind and starts
    its replacement at once; `listen` terminates every daemon's LISTEN connection."""

    def __init__(
        self,
        cluster: Cluster,
        interval: tuple[float, float],
        seed: int,
        kinds: tuple[str, ...] = ("engine", "worker"),
    ) -> None:
        self.cluster = cluster
        self.interval = interval
        self.kinds = kinds
        self.rng = random.Random(seed)
        self.kills: Counter[str] = Counter()
        self.listen_connections_terminated = 0
        self.last_fault = time.time()  # wall clock, to compare with finished_at
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True, name="kill-driver")

    def _next_kinds(self) -> Iterator[str]:
        while True:
            kinds = list(self.kinds)
            self.rng.shuffle(kinds)
            yield from kinds

    def _run(self) -> None:
        kinds = self._next_kinds()
        while not self._stop.wait(self.rng.uniform(*self.interval)):
            kind = next(kinds)
            if kind == "listen":
                terminated = terminate_listeners(self.cluster.dsn)
                self.listen_connections_terminated += terminated
                if terminated:
                    self.kills[kind] += 1
            else:
                index = self.rng.randrange(len(self.cluster.processes[kind]))
                self.cluster.kill_and_restart(kind, index)
                self.kills[kind] += 1
                # The next fault waits for the replacement to be up: on a loaded machine a
                # daemon takes seconds to start, and faults faster than that would only
                # ever kill daemons that never started (no work moves at all).
                self.cluster.wait_ready(kind, self._stop)
            self.last_fault = time.time()

    def __enter__(self) -> KillDriver:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=60)


# --- starting executions through the gateway -------------------------------------------


def _post_until_taken(
    client: httpx.Client,
    what: str,
    url: str,
    body: dict[str, Any],
    retry_on: tuple[int, ...],
    taken_if_lost: tuple[int, ...] = (),
    **options: Any,
) -> None:
    """POST until answered 200/202, retrying transport errors (a gateway killed under the
    request) and the statuses in `retry_on`; after a lost answer, `taken_if_lost` also
    means the first request was taken."""
    deadline = time.monotonic() + EVENTUALLY
    lost = False
    while True:
        try:
            answer = client.post(url, json=body, **options)
        except httpx.TransportError:
            answer, lost = None, True
        if answer is not None and answer.status_code in (200, 202):
            return
        if answer is not None and lost and answer.status_code in taken_if_lost:
            return
        if answer is not None and answer.status_code not in retry_on:
            raise AssertionError(f"{what}: {answer.status_code} {answer.text[:500]}")
        assert time.monotonic() < deadline, f"could not {what}"
        time.sleep(0.2)


def post_start(
    client: httpx.Client, execution_id: str, path: str, workload: dict[str, Any]
) -> None:
    """Start one execution; retried (same Idempotency-Key) while the database or the
    gateway is down."""
    body = {"name": "workflow.start", "execution_id": execution_id, "path": path}
    body["workload"] = workload
    _post_until_taken(
        client,
        f"start {execution_id}",
        "/api/v2/events",
        body,
        (503,),
        params={"wait": 0},
        headers={"Idempotency-Key": f"start-{execution_id}"},
    )


def post_signal(client: httpx.Client, execution_id: str, name: str, data: dict[str, Any]) -> None:
    """Signal one execution; retried while it is not applied yet (404) or the database
    or the gateway is down. The signal endpoint takes no Idempotency-Key, so a retry
    after a lost answer may store it twice (the second is never consumed)."""
    _post_until_taken(
        client,
        f"signal {execution_id}",
        f"/api/v2/executions/{execution_id}/signals",
        {"name": name, "data": data},
        (404, 503),
        taken_if_lost=(409,),  # the first one was taken and the execution has finished
    )


# What the starter does for one execution: its id, workload, playbook path and the
# signal (name, data) to send after the start, if any.
Start = tuple[str, dict[str, Any], str, tuple[str, dict[str, Any]] | None]


def start_paced(
    gateway_url: str,
    starts: list[Start],
    every: float,
    clients: int = 1,
) -> threading.Thread:
    """Start executions in a thread: `clients` clients, each one after another, `every`
    seconds apart, over its share of `starts`; the thread's `errors` list holds what went
    wrong."""
    errors: list[str] = []

    def client_run(share: list[Start]) -> None:
        with httpx.Client(base_url=gateway_url, timeout=30) as client:
            for execution_id, workload, path, signal in share:
                try:
                    post_start(client, execution_id, path, workload)
                    if signal is not None:
                        post_signal(client, execution_id, *signal)
                except AssertionError as exc:
                    errors.append(str(exc))
                time.sleep(every)

    def run() -> None:
        shares = [starts[i::clients] for i in range(clients)]
        threads = [threading.Thread(target=client_run, args=(s,), daemon=True) for s in shares]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()

    thread = threading.Thread(target=run, daemon=True, name="starter")
    thread.errors = errors  # type: ignore[attr-defined]
    thread.start()
    return thread


def count_finished(dsn: str, ids: list[str]) -> Counter[str]:
    try:
        with psycopg.connect(dsn, connect_timeout=5) as conn:
            rows = conn.execute(
                "SELECT status, count(*) FROM noetl.execution"
                " WHERE execution_id = ANY(%s) GROUP BY status",
                [ids],
            ).fetchall()
    except psycopg.OperationalError:  # the database may be restarting right now
        return Counter()
    return Counter(dict(rows))


def wait_for(condition: Callable[[], bool], what: str, timeout: float = EVENTUALLY) -> None:
    """`wait_until` at the chaos suite's pace and patience."""
    wait_until(condition, what, timeout=timeout, every=0.2)


# --- exactness checks ------------------------------------------------------------------

# Events the engine applies (and counts in events_applied): written by clients, or by
# the maintenance scan (timeout).
CLIENT_EVENTS = ("workflow.start", "workflow.cancel", "call.done", "signal", "timeout")


@dataclass
class LogFigures:
    """What the event logs show, summed over the executions checked."""

    executions: int = 0
    commands: int = 0
    command_attempts_past_first: int = 0
    lease_expired_reports: int = 0
    http_failures_retried: int = 0
    applied_out_of_id_order: int = 0
    sql_failures_retried: int = 0  # postgres steps that failed and were retried


def check_event_logs(
    conn,
    ids: list[str],
    steps_of: Callable[[str], dict[str, int]],
    retryable: tuple[str, ...] = ("lease_expired",),
    retryable_steps: dict[str, tuple[str, ...]] | None = None,
) -> LogFigures:
    """Every execution's event log is a valid sequence.

    `steps_of(execution_id)` gives the steps that run and how many successful calls each
    makes (an iteration each in a loop). Failed calls are allowed only of the error kinds
    in `retryable` (or per step in `retryable_steps`), each followed by a retry.
    """
    retryable_steps = retryable_steps or {}
    figures = LogFigures(executions=len(ids))
    events = conn.execute(
        "SELECT execution_id, event_id, event_type, node_name, status, payload, queue_id,"
        " created_at, processed_at, error, xmin::text AS tx"
        " FROM noetl.event WHERE execution_id = ANY(%s)"
        " ORDER BY execution_id, event_id",
        [ids],
    ).fetchall()
    by_execution: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for row in events:
        by_execution[row["execution_id"]].append(row)
    executions = {
        r["execution_id"]: r
        for r in conn.execute(
            "SELECT execution_id, events_applied, last_event_id FROM noetl.execution"
            " WHERE execution_id = ANY(%s)",
            [ids],
        ).fetchall()
    }
    queue: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for row in conn.execute(
        "SELECT execution_id, queue_id, step, status, attempt FROM noetl.queue"
        " WHERE execution_id = ANY(%s)",
        [ids],
    ).fetchall():
        queue[row["execution_id"]].append(row)

    for execution_id in ids:
        log = by_execution[execution_id]
        where = f"execution {execution_id}"
        assert log, f"{where}: no events"
        unprocessed = [e["event_id"] for e in log if e["processed_at"] is None]
        assert not unprocessed, f"{where}: events never applied: {unprocessed}"
        refused = [(e["event_type"], e["error"]) for e in log if e["error"]]
        assert not refused, f"{where}: events refused: {refused}"
        client = [e for e in log if e["event_type"] in CLIENT_EVENTS]
        # No client event applied twice (or skipped): the count and the last one match.
        assert executions[execution_id]["events_applied"] == len(client), (
            f"{where}: events_applied {executions[execution_id]['events_applied']}"
            f" but {len(client)} client events"
        )
        assert executions[execution_id]["last_event_id"] == client[-1]["event_id"], where
        # Applied in insertion order: a later event is marked in a later transaction
        # (within one, the engine applies them in the order it loaded them).
        out_of_order = sum(
            1
            for a, b in itertools.pairwise(client)
            if a["tx"] != b["tx"] and b["processed_at"] < a["processed_at"]
        )
        figures.applied_out_of_id_order += out_of_order
        assert out_of_order == 0, f"{where}: events applied out of event_id order"
        names = [e["event_type"] for e in log]
        assert names.count("workflow.start") == 1, f"{where}: {names}"
        assert names.count("workflow.complete") == 1, f"{where}: {names}"
        assert names[-1] == "workflow.complete", f"{where}: ends with {names[-1]}"

        # Every command reported exactly once, every report names a command of this
        # execution, and nothing is left to run.
        rows = queue[execution_id]
        figures.commands += len(rows)
        figures.command_attempts_past_first += sum(r["attempt"] - 1 for r in rows)
        leftover = [
            (r["queue_id"], r["status"]) for r in rows if r["status"] not in ("done", "failed")
        ]
        assert not leftover, f"{where}: commands left behind: {leftover}"
        reports = Counter(e["queue_id"] for e in log if e["event_type"] == "call.done")
        assert set(reports) == {r["queue_id"] for r in rows}, f"{where}: reports vs commands"
        doubled = [qid for qid, n in reports.items() if n != 1]
        assert not doubled, f"{where}: commands reported more than once: {doubled}"

        # Each step: entered as often as it runs, exits once, after everything of its own.
        expected = steps_of(execution_id)
        stepped = {e["node_name"] for e in log if e["node_name"]}
        assert stepped == set(expected), f"{where}: steps {sorted(stepped)}"
        for step, calls in expected.items():
            own = [e for e in log if e["node_name"] == step]
            kinds = Counter(e["event_type"] for e in own)
            assert kinds["step.enter"] == calls, f"{where} step {step}: {kinds}"
            assert kinds["step.exit"] == 1, f"{where} step {step}: {kinds}"
            assert own[-1]["event_type"] == "step.exit", f"{where} step {step} exits last"
            assert kinds["loop.done"] == (1 if calls > 1 else 0), f"{where} {step}: {kinds}"
            done = [e for e in own if e["event_type"] == "call.done"]
            ok = [e for e in done if "error" not in e["payload"]]
            failed = [e["payload"]["error"].get("kind") for e in done if "error" in e["payload"]]
            assert len(ok) == calls, f"{where} step {step}: {len(ok)} successful calls"
            allowed = retryable + retryable_steps.get(step, ())
            assert all(kind in allowed for kind in failed), f"{where} step {step}: {failed}"
            figures.lease_expired_reports += failed.count("lease_expired")
            figures.http_failures_retried += failed.count("http_status")
            figures.sql_failures_retried += failed.count("sql")
            exit_status = next(e["status"] for e in own if e["event_type"] == "step.exit")
            assert exit_status == "completed", f"{where} step {step} exited {exit_status}"
    return figures


def leftover_commands(conn) -> list[dict[str, Any]]:
    return conn.execute(
        "SELECT queue_id, execution_id, step, status FROM noetl.queue"
        " WHERE status IN ('pending', 'leased', 'waiting')"
    ).fetchall()
