"""The worker daemon: lease commands from `noetl.queue`, run their tools, report back.

One asyncio loop per process, on one of two transports (worker/transport.py): SQL with a
DSN, or HTTP through the gateway with `--gateway URL` and no DSN. The lease loop wakes
when work is queued (a NOTIFY, or the gateway's long-poll), on its safety timer and when a
slot frees up; each leased command runs as a task; one heartbeat task extends all held
leases at once and cancels a command whose lease was lost. Both loops are watched
(`watch.py`): one that dies is restarted, one that keeps dying stops the worker with the
reason. Reports are fenced: a worker that lost a lease records nothing.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import os
import socket
import sys
import time
import uuid
from collections.abc import Coroutine, Mapping
from dataclasses import dataclass
from typing import Any

import psycopg
from psycopg_pool import PoolTimeout
from pydantic import ValidationError

from noetl_pg import daemon_metrics as metrics
from noetl_pg import tracing
from noetl_pg.dsl.render import TemplateError, resolve_secrets
from noetl_pg.protocol import ErrorKind, Lease
from noetl_pg.protocol.lease import LeasedCommand, QueueUnavailable, ReportRefused
from noetl_pg.protocol.tools import (
    ToolConfig,
    config_error_message,
    parse_tool_config,
    unknown_kind_message,
)
from noetl_pg.signals import run_until_stopped
from noetl_pg.worker import report as reports
from noetl_pg.worker.allow import ALLOW_TOOLS_ENV, ToolAllowList
from noetl_pg.worker.fast_path import FAST_PATH_ENV, fast_path_from_env
from noetl_pg.worker.remote import (
    DEFAULT_POLL_INTERVAL,
    GATEWAY_URL_ENV,
    GatewayError,
    GatewayTransport,
    WorkerRefused,
)
from noetl_pg.worker.secrets import SecretLookup
from noetl_pg.worker.sql_transport import SqlTransport
from noetl_pg.worker.tool import Deferred, Reported, ToolContext, ToolError, WorkerSettings
from noetl_pg.worker.tools import KINDS
from noetl_pg.worker.transport import CommandTransport
from noetl_pg.worker.watch import RestartPolicy, SideTaskFailed, watched

log = logging.getLogger("noetl_pg.worker")

PYTHON_MEMORY_ENV = "NOETL_PYTHON_MEMORY_MB"
# Errors that mean "the queue is unreachable right now" (the database, or the gateway):
# retry, do not crash.
_DB_DOWN = (psycopg.OperationalError, PoolTimeout, OSError, QueueUnavailable)
_RETRY_SECONDS = 0.5  # how soon to try again once the queue was unreachable


@dataclass
class _Held:
    lease: Lease
    task: asyncio.Task[None]
    reporting: bool = False  # past the point where a lost lease should cancel it


def default_worker_id() -> str:
    host = socket.gethostname()[:40]
    return f"{host}-{os.getpid()}-{uuid.uuid4().hex[:6]}"


class Worker:
    """Runs commands from `noetl.queue` until `stop()` (or SIGTERM/SIGINT via `main`):
    with `dsn` on the database, or with `gateway_url` (and a worker `token`) over HTTP."""

    def __init__(
        self,
        dsn: str | None = None,
        worker_id: str | None = None,
        concurrency: int = 4,
        lease_seconds: float = 30.0,
        safety_interval: float = 5.0,
        *,
        grace_seconds: float = 20.0,
        max_result_bytes: int | None = None,
        python_memory_mb: int | None = None,
        env: Mapping[str, str] | None = None,
        restarts: RestartPolicy | None = None,
        allowed_tools: ToolAllowList | None = None,
        fast_path: bool | None = None,
        gateway_url: str | None = None,
        token: str | None = None,
        poll_interval: float = DEFAULT_POLL_INTERVAL,
    ) -> None:
        if (dsn is None) == (gateway_url is None):
            raise ValueError("a worker needs either a dsn or a gateway_url (not both)")
        if concurrency < 1:
            raise ValueError("concurrency must be at least 1")
        if lease_seconds <= 0 or safety_interval <= 0:
            raise ValueError("lease_seconds and safety_interval must be positive")
        self.dsn = dsn
        self.gateway_url = gateway_url
        self.token = token
        self.poll_interval = poll_interval
        self.worker_id = worker_id or default_worker_id()
        self.concurrency = concurrency
        self.lease_seconds = lease_seconds
        self.safety_interval = safety_interval
        self.grace_seconds = grace_seconds
        self.env = os.environ if env is None else env
        self.max_result_bytes = max_result_bytes or reports.max_result_bytes_from_env(self.env)
        # Address space of each python tool process, in MiB (None: no cap).
        self.python_memory_mb = python_memory_mb or int(self.env.get(PYTHON_MEMORY_ENV, 0)) or None
        self.restarts = restarts or RestartPolicy()
        self.allowed_tools = allowed_tools or ToolAllowList()
        self.fast_path = fast_path_from_env(self.env) if fast_path is None else fast_path
        # What the tool kinds may know of this worker.
        self.settings = WorkerSettings(
            dsn=self.dsn,
            concurrency=self.concurrency,
            max_result_bytes=self.max_result_bytes,
            python_memory_mb=self.python_memory_mb,
            env=self.env,
        )
        self._held: dict[int, _Held] = {}
        self._stop_requested = False
        self._hurry: asyncio.Event | None = None
        self._transport: CommandTransport | None = None
        self._resources: dict[str, Any] = {}  # each tool kind's, by kind name
        self.ready = asyncio.Event()  # set after the first look at the queue

    @property
    def running(self) -> list[int]:
        """The queue_ids of the commands this worker is running now."""
        return sorted(self._held)

    # --- lifecycle -----------------------------------------------------------------

    def stop(self) -> None:
        """Stop leasing and finish within the grace period; a second call hurries."""
        if self._stop_requested and self._hurry is not None:
            log.info("worker %s: second stop request, releasing now", self.worker_id)
            self._hurry.set()
        self._stop_requested = True
        if self._transport is not None:
            self._transport.interrupt()

    async def run(self) -> None:
        """Run until stopped; raises SideTaskFailed if the heartbeat or the lease loop
        kept dying (its commands are given back first)."""
        self._hurry = asyncio.Event()
        self._resources = {}
        async with contextlib.AsyncExitStack() as stack:
            self._transport = await stack.enter_async_context(self._open_transport())
            for name, kind in KINDS.items():
                if kind.resources is not None:
                    opened = kind.resources(self.settings)
                    self._resources[name] = await stack.enter_async_context(opened)
            stack.push_async_callback(self._cancel_commands)
            heartbeat = asyncio.create_task(
                watched("heartbeat", self._heartbeat_loop, self.restarts, log), name="heartbeat"
            )
            stack.push_async_callback(_cancel, heartbeat)
            log.info(
                "worker %s started on %s: concurrency %d, lease %gs, safety timer %gs",
                self.worker_id,
                self.gateway_url or "the database",
                self.concurrency,
                self.lease_seconds,
                self.safety_interval,
            )
            try:
                await _beside(
                    heartbeat, watched("lease loop", self._lease_loop, self.restarts, log)
                )
                await _beside(heartbeat, self._drain())
            except SideTaskFailed as exc:
                log.error("worker %s stopping: %s", self.worker_id, exc)
                await self._give_back_unfinished()
                raise
        log.info("worker %s stopped", self.worker_id)

    def _open_transport(self) -> SqlTransport | GatewayTransport:
        if self.gateway_url is not None:
            return GatewayTransport(
                self.gateway_url,
                self.worker_id,
                token=self.token,
                poll_interval=self.poll_interval,
                lease_seconds=self.lease_seconds,
            )
        assert self.dsn is not None
        return SqlTransport(
            self.dsn, self.worker_id, concurrency=self.concurrency, fast_path=self.fast_path
        )

    async def _cancel_commands(self) -> None:
        tasks = [held.task for held in self._held.values()]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    # --- leasing -------------------------------------------------------------------

    async def _lease_loop(self) -> None:
        transport = self._transport
        assert transport is not None
        while not self._stop_requested:
            slots = 0  # free slots still open after leasing: what to wait for work with
            try:
                free = self.concurrency - len(self._held)
                if free > 0:
                    commands = await transport.lease_commands(free, self.lease_seconds)
                    self.ready.set()
                    for command in commands:
                        self._start(command)
                    if len(commands) == free:
                        continue  # there may be more: look again once a slot frees
                    slots = free - len(commands)
                metrics.BUSY.set(len(self._held))
                woke = await transport.wait_for_work(self.safety_interval, slots)
                metrics.woke("worker", woke)
            except _DB_DOWN as exc:
                metrics.DB_UNAVAILABLE.labels("worker").inc()
                log.warning("worker %s: queue unavailable (%s); retrying", self.worker_id, exc)
                metrics.woke("worker", await transport.wait_for_work(_RETRY_SECONDS, 0))

    def _start(self, command: LeasedCommand) -> None:
        lease = command.lease
        stale = self._held.get(lease.queue_id)
        if stale is not None:
            # Our earlier lease on it expired and was taken back: that run is fenced out.
            log.warning("leased queue_id=%s again: cancelling its stale run", lease.queue_id)
            stale.task.cancel()
        task = asyncio.create_task(self._execute(command), name=f"command-{lease.queue_id}")
        self._held[lease.queue_id] = _Held(lease, task)
        task.add_done_callback(lambda done, qid=lease.queue_id: self._finished(qid, done))

    def _finished(self, queue_id: int, task: asyncio.Task[None]) -> None:
        held = self._held.get(queue_id)
        if held is not None and held.task is task:  # not a newer lease of the same command
            del self._held[queue_id]
        if self._transport is not None:
            self._transport.wake()  # a slot is free

    # --- running one command -------------------------------------------------------

    async def _execute(self, command: LeasedCommand) -> None:
        lease, name = command.lease, command.tool_kind
        where = (
            f"queue_id={lease.queue_id} execution={command.execution_id} step={command.step}"
            f" kind={name} attempt={lease.attempt}"
        )
        log.info("start %s", where)
        started = time.monotonic()
        secrets = SecretLookup(self.env, allowed=command.secret_names)

        def finish(response: Any, error: dict[str, Any] | None) -> reports.CallReport:
            duration_ms = round((time.monotonic() - started) * 1000)
            if error is None:
                return reports.success(
                    response, duration_ms, max_bytes=self.max_result_bytes, secrets=secrets.used
                )
            return reports.failure(
                error, duration_ms, max_bytes=self.max_result_bytes, secrets=secrets.used
            )

        assert self._transport is not None
        ctx = ToolContext(
            lease=lease,
            execution_id=command.execution_id,
            step=command.step,
            run_key=command.run_key,
            timeout_seconds=command.timeout_seconds,
            settings=self.settings,
            resource=self._resources.get(name),
            queue=self._transport,
            finish=finish,
            secrets_used=secrets.used,
        )
        result: Any = None
        try:
            kind = KINDS.get(name)
            if kind is None:
                raise ToolError(ErrorKind.UNKNOWN_TOOL, unknown_kind_message(name))
            self.allowed_tools.check(name, self.worker_id)
            if kind.run is None:
                raise ToolError(
                    ErrorKind.UNKNOWN_TOOL,
                    f"a {name!r} tool is resolved by the engine; no worker runs one",
                )
            config = _rendered_config(name, resolve_secrets(command.tool_config or {}, secrets))
            args = resolve_secrets(command.args or {}, secrets)
            with tracing.span(f"tool {name}", command.execution_id, step=command.step):
                result = await kind.run(config, args, ctx)
        except ToolError as exc:
            error: dict[str, Any] | None = exc.as_error()
        except TemplateError as exc:
            error = {"kind": ErrorKind.SECRET, "message": str(exc)}
        except psycopg.OperationalError as exc:
            # Our own database went away mid-call (a tool that reports in its own
            # transaction): nothing was recorded, so the command must simply run again.
            log.warning("database lost during %s (%s); handing the command back", where, exc)
            await self._hand_back(lease, where)
            return
        except Exception as exc:
            log.exception("tool %s failed unexpectedly (%s)", name, where)
            error = {"kind": ErrorKind.INTERNAL, "message": f"{type(exc).__name__}: {exc}"}
        else:
            error = None
            if isinstance(result, Deferred):
                log.info("deferred %s: %s", where, result.reason)
                return
            if isinstance(result, Reported):
                duration_ms = round((time.monotonic() - started) * 1000)
                _log_finish(where, result.event_id, result.report, duration_ms)
                return
        duration_ms = round((time.monotonic() - started) * 1000)
        await self._report(lease, finish(result, error), where, duration_ms)

    async def _hand_back(self, lease: Lease, where: str) -> None:
        """Release a lease (same attempt) once the database answers again; if it does not
        before the lease runs out, expiry hands the command back instead."""
        assert self._transport is not None
        deadline = time.monotonic() + self.lease_seconds
        while time.monotonic() < deadline:
            try:
                await self._transport.release([lease])
                return
            except _DB_DOWN:
                await asyncio.sleep(0.5)
        log.warning("could not release %s; its lease will expire", where)

    async def _report(
        self, lease: Lease, done: reports.CallReport, where: str, duration_ms: int
    ) -> None:
        assert self._transport is not None
        held = self._held.get(lease.queue_id)
        if held is not None:
            held.reporting = True
        deadline = time.monotonic() + self.lease_seconds
        while True:
            try:
                event_id = await self._transport.report(
                    lease, ok=done.ok, payload_json=done.payload_json, last_error=done.last_error
                )
                break
            except (psycopg.DataError, ReportRefused) as exc:
                # The payload passed our checks but not jsonb's: record why, not nothing.
                done = reports.failure(
                    {
                        "kind": ErrorKind.RESULT_NOT_STORABLE,
                        "message": f"PostgreSQL refused it: {exc}",
                    },
                    duration_ms,
                    max_bytes=self.max_result_bytes,
                )
            except (GatewayError, WorkerRefused) as exc:
                log.error("could not report %s (%s); its lease will expire", where, exc)
                return
            except _DB_DOWN as exc:
                if time.monotonic() > deadline:
                    log.error("could not report %s (%s); its lease will expire", where, exc)
                    return
                log.warning("report of %s failed (%s); retrying", where, exc)
                await asyncio.sleep(_RETRY_SECONDS)
        _log_finish(where, event_id, done, duration_ms)

    # --- heartbeats ----------------------------------------------------------------

    async def _heartbeat_loop(self) -> None:
        assert self._transport is not None
        while True:
            await asyncio.sleep(self.lease_seconds / 3)
            held = dict(self._held)
            if not held:
                continue
            try:
                kept = await self._transport.heartbeat(
                    [h.lease for h in held.values()], self.lease_seconds
                )
            except _DB_DOWN as exc:
                log.warning("heartbeat failed (%s); leases may expire", exc)
                continue
            for queue_id, entry in held.items():
                if queue_id in kept or entry.reporting or entry.task.done():
                    continue
                if self._held.get(queue_id) is entry:
                    log.warning(
                        "lease lost: cancelling queue_id=%s attempt=%s",
                        queue_id,
                        entry.lease.attempt,
                    )
                    entry.task.cancel()

    # --- graceful stop -------------------------------------------------------------

    async def _drain(self) -> None:
        assert self._hurry is not None
        if not self._held:
            return
        tasks = {held.task for held in self._held.values()}
        log.info(
            "worker %s stopping: waiting up to %gs for %d running commands",
            self.worker_id,
            self.grace_seconds,
            len(tasks),
        )
        hurry = asyncio.create_task(self._hurry.wait())
        deadline = time.monotonic() + self.grace_seconds
        while not hurry.done():
            remaining = [t for t in tasks if not t.done()]
            left = deadline - time.monotonic()
            if not remaining or left <= 0:
                break
            await asyncio.wait(
                [*remaining, hurry], timeout=left, return_when=asyncio.FIRST_COMPLETED
            )
        hurry.cancel()
        await self._give_back_unfinished()

    async def _give_back_unfinished(self) -> None:
        """Cancel the commands still running and release their leases (same attempt)."""
        assert self._transport is not None
        unfinished = [held for held in self._held.values() if not held.task.done()]
        for held in unfinished:
            held.task.cancel()
        await asyncio.gather(*(held.task for held in unfinished), return_exceptions=True)
        if not unfinished:
            return
        try:
            released = await self._transport.release(held.lease for held in unfinished)
        except (*_DB_DOWN, psycopg.Error) as exc:
            log.warning(
                "could not release %d commands (%s); their leases will expire", len(unfinished), exc
            )
            return
        log.info(
            "worker %s released %d unfinished commands: %s",
            self.worker_id,
            len(released),
            sorted(released),
        )


async def _beside(side: asyncio.Task[None], work: Coroutine[Any, Any, None]) -> None:
    """Run `work` while the side task runs; if the side task fails first, stop `work`
    and raise the side task's error."""
    task = asyncio.ensure_future(work)
    try:
        await asyncio.wait({task, side}, return_when=asyncio.FIRST_COMPLETED)
        if not task.done():
            side.result()  # raises: the side task never returns while the worker runs
        task.result()
    finally:
        await _cancel(task)


async def _cancel(task: asyncio.Task[Any]) -> None:
    if task.done():
        return  # its outcome was taken by whoever waited on it
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task


def _rendered_config(kind: str, config: Any) -> ToolConfig:
    """The command's rendered tool_config as its kind's model; a config error if not."""
    if not isinstance(config, dict):
        raise ToolError(ErrorKind.CONFIG, f"tool_config must be a mapping, not {config!r}")
    try:
        return parse_tool_config({**config, "kind": kind}, rendered=True)
    except ValidationError as exc:
        raise ToolError(ErrorKind.CONFIG, config_error_message(exc)) from None


# --- command line ----------------------------------------------------------------------


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="noetl-worker",
        description="Run commands from noetl.queue: on the database (NOETL_DSN, else the"
        " embedded server), or with --gateway URL over HTTP with no database (a worker"
        " token in NOETL_API_TOKEN).",
    )
    parser.add_argument(
        "--gateway",
        default=os.environ.get(GATEWAY_URL_ENV) or None,
        metavar="URL",
        help=f"reach the queue through this gateway instead of the database (env"
        f" {GATEWAY_URL_ENV}); the token is NOETL_API_TOKEN",
    )
    parser.add_argument(
        "--poll-interval",
        type=float,
        default=DEFAULT_POLL_INTERVAL,
        help="with --gateway: the longest wait of one long-poll for work, in seconds"
        f" ({DEFAULT_POLL_INTERVAL:g})",
    )
    parser.add_argument("--concurrency", type=int, default=4, help="commands at once (4)")
    parser.add_argument("--worker-id", default=None, help="default: host-pid-random")
    parser.add_argument(
        "--lease-seconds", type=float, default=30.0, help="lease length; heartbeats every third"
    )
    parser.add_argument(
        "--safety-interval",
        type=float,
        default=5.0,
        help="look at the queue at least this often (5); expired leases are taken back by"
        " the engines' maintenance leader",
    )
    parser.add_argument(
        "--grace-seconds",
        type=float,
        default=20.0,
        help="on SIGTERM/SIGINT, how long running commands may take to finish (20)",
    )
    parser.add_argument(
        "--python-memory-mb",
        type=int,
        default=None,
        help=f"cap the address space of each python tool process (MiB; env {PYTHON_MEMORY_ENV});"
        " user code past it gets MemoryError",
    )
    parser.add_argument(
        "--allow-tools",
        default=os.environ.get(ALLOW_TOOLS_ENV),
        metavar="KIND,...",
        help=f"run only these tool kinds (env {ALLOW_TOOLS_ENV}; default every kind); a command"
        " of another kind fails with error kind tool_not_allowed",
    )
    metrics.add_option(parser)
    parser.add_argument(
        "--no-fast-path",
        action="store_true",
        help=f"leave every call.done to the engine (env {FAST_PATH_ENV}=0)",
    )
    return parser.parse_args(argv)


def _log_finish(
    where: str, event_id: int | None, done: reports.CallReport, duration_ms: int
) -> None:
    if event_id is None:
        log.warning(
            "lease lost, nothing recorded (an effect in our database rolled back): %s", where
        )
        return
    metrics.COMMANDS.labels("ok" if done.ok else "error").inc()
    metrics.TOOL_SECONDS.observe(duration_ms / 1000)
    status = "ok" if done.ok else f"error {done.kind}"
    log.info("finish %s: %s in %d ms (event %s)", where, status, duration_ms, event_id)


def main(argv: list[str] | None = None) -> int:
    options = parse_args(argv)
    logging.basicConfig(
        level=os.environ.get("NOETL_LOG_LEVEL", "INFO").upper(),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    from noetl_pg.store.config import resolve_dsn

    try:
        allowed_tools = ToolAllowList.parse(options.allow_tools)
    except ValueError as exc:
        print(f"noetl-worker: {exc}", file=sys.stderr)
        return 2
    worker = Worker(
        None if options.gateway else resolve_dsn(),
        gateway_url=options.gateway,
        poll_interval=options.poll_interval,
        worker_id=options.worker_id,
        concurrency=options.concurrency,
        lease_seconds=options.lease_seconds,
        safety_interval=options.safety_interval,
        grace_seconds=options.grace_seconds,
        python_memory_mb=options.python_memory_mb,
        allowed_tools=allowed_tools,
        fast_path=False if options.no_fast_path else None,
    )
    metrics.CONCURRENCY.set(options.concurrency)
    metrics.serve(options.metrics_port)
    tracing.configure("noetl-worker")
    try:
        run_until_stopped(worker)
    except SideTaskFailed as exc:
        print(f"noetl-worker {worker.worker_id}: {exc}; exiting", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
