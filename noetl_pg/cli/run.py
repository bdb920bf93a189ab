"""`noetl-pg run PLAYBOOK.yaml`: run one playbook end to end and show it happen.

Without `--gateway` everything happens in this process: the database (NOETL_DSN, else
the embedded server) is migrated, an engine and a worker start as asyncio tasks, the
playbook is registered and started, and its events are followed until it ends. With
`--gateway URL` the command only talks HTTP to a running deployment.

Exit status: 0 completed, 1 failed (or cancelled, or timed out), 2 bad input (an invalid
playbook too), 130 Ctrl-C, 143 SIGTERM (`noetl_pg/cli/exits.py`).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import signal
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psycopg
from psycopg.conninfo import conninfo_to_dict, make_conninfo

from noetl_pg.cli.dbclient import REFUSALS, DatabaseClient
from noetl_pg.cli.exits import Exit
from noetl_pg.cli.parsing import command_parser
from noetl_pg.cli.progress import ENDINGS, Progress, error_text, warning_line
from noetl_pg.cli.workload import WorkloadError, add_set_argument, parse_sets
from noetl_pg.protocol import TERMINAL, ExecutionStatus

POLL_SECONDS = 0.05
STATE_EVERY = 0.5  # also read the state, for a start the engine refused (no events follow)
CANCEL_WAIT = 3.0  # after Ctrl-C, how long the in-process engine gets to apply the cancel


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = command_parser(
        subparsers,
        "run",
        "run a playbook end to end with live progress (engine and worker in-process)",
        __doc__,
    )
    parser.add_argument("file", metavar="PLAYBOOK.yaml", help="the playbook to run")
    add_set_argument(parser)
    parser.add_argument(
        "--json",
        action="store_true",
        help="print only a final JSON document {execution_id, status, result, error}",
    )
    parser.add_argument(
        "--gateway",
        metavar="URL",
        help="run on a deployment through its gateway (HTTP only; NOETL_API_TOKEN is sent)",
    )
    parser.add_argument(
        "--timeout", type=float, metavar="S", help="give up after S seconds (exit status 1)"
    )
    parser.add_argument("--workers", type=int, default=1, help="in-process workers (default 1)")
    parser.set_defaults(func=run)


@dataclass
class RunEnding:
    """How one `noetl-pg run` ended: the execution's last status, and why we stopped."""

    execution_id: str
    status: ExecutionStatus  # a TERMINAL one, or RUNNING when timed out / interrupted
    result: Any = None
    error: str | None = None
    interrupted: bool = False
    timed_out: bool = False
    warnings: list[dict[str, Any]] = field(default_factory=list)

    def document(self) -> dict[str, Any]:
        return {
            "execution_id": self.execution_id,
            "status": self.status,
            "result": self.result,
            "error": self.error,
            "warnings": self.warnings,
        }


def run(args: argparse.Namespace) -> int:
    from noetl_pg.dsl import PlaybookError, parse_playbook

    try:
        text = Path(args.file).read_text()
    except OSError as exc:
        print(f"{args.file}: cannot read: {exc.strerror or exc}", file=sys.stderr)
        return Exit.USAGE
    try:
        parse_playbook(text, source=args.file)
        workload = parse_sets(args.sets)
    except PlaybookError as exc:
        for problem in exc.problems:
            print(problem.format(), file=sys.stderr)
        return Exit.USAGE
    except WorkloadError as exc:
        print(f"noetl-pg run: {exc}", file=sys.stderr)
        return Exit.USAGE
    if args.workers < 1:
        print("noetl-pg run: --workers must be at least 1", file=sys.stderr)
        return Exit.USAGE

    runner = Runner(args, text, workload)
    try:
        return asyncio.run(runner.main())
    except REFUSALS as exc:
        print(f"noetl-pg run: {exc}", file=sys.stderr)
        return Exit.FAILED
    except BrokenPipeError:
        # The reader went away (`| head`): stop quietly, as other Unix tools do.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 128 + signal.SIGPIPE


class Runner:
    def __init__(self, args: argparse.Namespace, text: str, workload: dict[str, Any]) -> None:
        self.args = args
        self.text = text
        self.workload = workload
        self.progress = Progress(sys.stdout, live=not args.json and sys.stdout.isatty())
        self.show_events = not args.json
        self.stop_signal: int | None = None
        self._wake = asyncio.Event()

    def say(self, text: str) -> None:
        if not self.args.json:
            self.progress.say(text)

    async def main(self) -> int:
        with self._signals():
            if self.args.gateway:
                ending = await self._via_gateway(self.args.gateway)
            else:
                ending = await self._in_process()
        return self._report(ending)

    async def watch(self, client: Any, execution_id: str) -> int:
        """Follow an execution that runs elsewhere (`start --wait/--follow`) to its end;
        a Ctrl-C stops the watching, not the execution."""
        with self._signals():
            ending = await self._follow(client, execution_id)
        return self._report(ending)

    @contextlib.contextmanager
    def _signals(self) -> Iterator[None]:
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(signum, self._interrupt, signum)
        try:
            yield
        finally:
            self.progress.close()
            for signum in (signal.SIGINT, signal.SIGTERM):
                loop.remove_signal_handler(signum)

    def _interrupt(self, signum: int) -> None:
        if self.stop_signal is None:
            self.stop_signal = signum
        self._wake.set()

    # --- the two ways to run -----------------------------------------------------------

    async def _in_process(self) -> RunEnding:
        from noetl_pg.cli.inprocess import running_daemons
        from noetl_pg.store.config import resolve_dsn
        from noetl_pg.store.migrations import upgrade

        dsn = await asyncio.to_thread(resolve_dsn)
        await asyncio.to_thread(upgrade, dsn)
        async with (
            running_daemons(dsn, workers=self.args.workers) as daemons,
            DatabaseClient(dsn) as client,
        ):
            registered = await client.register(self.text, self.args.file)
            execution_id = await client.start(registered.path, registered.version, self.workload)
            self.say(
                f"running {registered.path} v{registered.version} as {execution_id}"
                f" (database: {redact(dsn)})"
            )
            ending = await self._follow(client, execution_id, check=daemons.check)
            if ending.interrupted or ending.timed_out:
                ending = await self._cancel(client, ending)
                daemons.stop(hurry=True)
        return ending

    async def _via_gateway(self, url: str) -> RunEnding:
        from noetl_pg.cli.gatewayclient import GatewayClient

        async with GatewayClient(url) as client:
            registered = await client.register(self.text, self.args.file)
            execution_id = await client.start(registered.path, registered.version, self.workload)
            self.say(
                f"running {registered.path} v{registered.version} as {execution_id}"
                f" (gateway: {url})"
            )
            return await self._follow(client, execution_id)

    async def _cancel(self, client: DatabaseClient, ending: RunEnding) -> RunEnding:
        """Stop the execution this process was running, so nothing resumes it later."""
        reason = "timed out" if ending.timed_out else "interrupted"
        with contextlib.suppress(*REFUSALS):
            await client.cancel(ending.execution_id, reason=f"noetl-pg run: {reason}")
        deadline = time.monotonic() + CANCEL_WAIT
        while time.monotonic() < deadline:
            state = await client.state(ending.execution_id)
            if state and state["status"] in TERMINAL:
                ending.status = ExecutionStatus(state["status"])
                ending.error = state["error"]
                break
            await asyncio.sleep(POLL_SECONDS)
        await self._drain_events(client, ending.execution_id)
        return ending

    # --- following ------------------------------------------------------------------

    async def _follow(self, client: Any, execution_id: str, check: Any = None) -> RunEnding:
        self._after = 0
        deadline = time.monotonic() + self.args.timeout if self.args.timeout else None
        next_state = time.monotonic() + STATE_EVERY
        while True:
            ended = await self._drain_events(client, execution_id)
            if ended or time.monotonic() >= next_state:
                next_state = time.monotonic() + STATE_EVERY
                state = await client.state(execution_id)
                if state and state["status"] in TERMINAL:
                    await self._drain_events(client, execution_id)
                    return RunEnding(
                        execution_id,
                        ExecutionStatus(state["status"]),
                        state["result"],
                        state["error"],
                        warnings=list(state.get("warnings") or []),
                    )
            if check is not None:
                check()
            if self.stop_signal is not None:
                return RunEnding(execution_id, ExecutionStatus.RUNNING, interrupted=True)
            if deadline is not None and time.monotonic() >= deadline:
                return RunEnding(execution_id, ExecutionStatus.RUNNING, timed_out=True)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), POLL_SECONDS)
            if self.show_events:
                self.progress.tick()

    async def _drain_events(self, client: Any, execution_id: str) -> bool:
        """Show every new event; True when the execution's ending event was among them."""
        ended = False
        while True:
            rows = await client.events(execution_id, after=self._after)
            for row in rows:
                self._after = row["event_id"]
                ended = ended or row["name"] in ENDINGS
                if self.show_events:
                    self.progress.event(row)
            if len(rows) < 1000:
                return ended

    # --- the end --------------------------------------------------------------------

    def _report(self, ending: RunEnding) -> int:
        if ending.timed_out and ending.status not in TERMINAL:
            ending.error = f"timed out after {self.args.timeout:g}s"
        elif ending.interrupted and ending.status not in TERMINAL:
            ending.error = "interrupted"
        if self.args.json:
            print(json.dumps(ending.document(), indent=2, default=str))
        else:
            self._show(ending)
        sys.stdout.flush()
        if ending.interrupted:
            return Exit.INTERRUPTED if self.stop_signal == signal.SIGINT else Exit.TERMINATED
        return Exit.OK if ending.status == ExecutionStatus.COMPLETED else Exit.FAILED

    def _show(self, ending: RunEnding) -> None:
        """The ending for a person: warnings first (never only stored), then result or error."""
        for warning in ending.warnings:
            print(f"warning: {warning_line(warning)}", file=sys.stderr)
        if ending.status == ExecutionStatus.COMPLETED:
            print("result:")
            print(json.dumps(ending.result, indent=2, default=str))
        else:
            print(f"{ending.status}: {error_text(ending.error or 'no error recorded', 2000)}")
            print(f"execution {ending.execution_id} {ending.status}", file=sys.stderr)
            if ending.timed_out and self.args.gateway:
                print(
                    f"it keeps running on the gateway; watch it with "
                    f"`noetl-pg events {ending.execution_id}`",
                    file=sys.stderr,
                )


def redact(dsn: str) -> str:
    """The DSN without its password, to show the user where the data went."""
    try:
        params = conninfo_to_dict(dsn)
    except psycopg.ProgrammingError:  # a DSN psycopg cannot parse is shown as nothing
        return "(unparsable DSN)"
    if "password" in params:
        params["password"] = "***"
    return make_conninfo(**params)
