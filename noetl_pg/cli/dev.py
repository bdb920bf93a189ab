"""`noetl-pg dev`: the gateway, an engine and workers in one process, for a laptop.

The database is NOETL_DSN, else the embedded server (migrated on start). Ctrl-C or
SIGTERM stops the gateway, lets running commands finish for a moment, and exits 0.
In production run `noetl-gateway`, `noetl-engine` and `noetl-worker` as separate
processes instead (see the README).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import signal
import socket
import sys
from collections.abc import Iterator
from typing import Any

from noetl_pg.cli.exits import Exit
from noetl_pg.cli.parsing import command_parser
from noetl_pg.cli.run import redact

CHECK_SECONDS = 0.5


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = command_parser(
        subparsers,
        "dev",
        "gateway + engine + workers in one process (Ctrl-C stops everything)",
        __doc__,
    )
    parser.add_argument("--host", default="127.0.0.1", help="gateway address (127.0.0.1)")
    parser.add_argument("--port", type=int, default=8000, help="gateway port (8000; 0: any)")
    parser.add_argument("--workers", type=int, default=1, help="in-process workers (1)")
    parser.add_argument("--concurrency", type=int, default=4, help="commands per worker (4)")
    parser.set_defaults(func=run)


def _uvicorn_server(config: Any) -> Any:
    """uvicorn without its own signal handling: `noetl-pg dev` owns SIGINT and SIGTERM."""
    import uvicorn

    class Server(uvicorn.Server):
        @contextlib.contextmanager
        def capture_signals(self) -> Iterator[None]:
            yield

    return Server(config)


def run(args: argparse.Namespace) -> int:
    if args.workers < 1 or args.concurrency < 1:
        print("noetl-pg dev: --workers and --concurrency must be at least 1", file=sys.stderr)
        return Exit.USAGE
    try:
        listener = socket.create_server((args.host, args.port), reuse_port=False)
    except OSError as exc:
        print(
            f"noetl-pg dev: cannot listen on {args.host}:{args.port}: {exc.strerror or exc}"
            " (choose another with --port)",
            file=sys.stderr,
        )
        return Exit.USAGE
    from noetl_pg.store.config import resolve_dsn
    from noetl_pg.store.migrations import upgrade

    dsn = resolve_dsn()
    upgrade(dsn)
    try:
        return asyncio.run(_serve(args, dsn, listener))
    finally:
        listener.close()


async def _serve(args: argparse.Namespace, dsn: str, listener: socket.socket) -> int:
    import uvicorn

    from noetl_pg.cli.inprocess import DaemonCrashed, running_daemons
    from noetl_pg.gateway.app import create_app

    app = create_app(dsn, api_token=os.environ.get("NOETL_API_TOKEN") or None)
    config = uvicorn.Config(app, log_level=args.log_level.lower(), lifespan="on")
    server = _uvicorn_server(config)
    stopping = asyncio.Event()
    loop = asyncio.get_running_loop()

    def stop(signum: int) -> None:
        if stopping.is_set():  # a second Ctrl-C: do not wait for anything
            server.force_exit = True
        stopping.set()
        server.should_exit = True

    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop, signum)

    async with running_daemons(dsn, workers=args.workers, concurrency=args.concurrency) as daemons:
        serving = asyncio.create_task(server.serve(sockets=[listener]), name="gateway")
        while not server.started and not serving.done():
            await asyncio.sleep(0.02)
        if serving.done():
            await serving
            print("noetl-pg dev: the gateway did not start", file=sys.stderr)
            return 1
        host, port = listener.getsockname()[:2]
        _announce(args, f"http://{host}:{port}", dsn)
        failure = None
        while not stopping.is_set() and not serving.done():
            try:
                daemons.check()
            except DaemonCrashed as exc:
                failure = str(exc)
                break
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stopping.wait(), CHECK_SECONDS)
        print("noetl-pg dev: stopping", flush=True)
        server.should_exit = True
        await serving
        daemons.stop(hurry=server.force_exit)
    if failure:
        print(f"noetl-pg dev: {failure}", file=sys.stderr)
        return 1
    print("noetl-pg dev: stopped", flush=True)
    return 0


def _announce(args: argparse.Namespace, url: str, dsn: str) -> None:
    workers = f"{args.workers} worker{'s' if args.workers != 1 else ''}"
    print(
        f"noetl-pg dev: gateway, engine and {workers} (concurrency {args.concurrency})"
        " in one process\n"
        f"  gateway   {url}  (API docs: {url}/docs, health: {url}/api/v2/health)\n"
        f"  console   {url}/ui/   (metrics: {url}/metrics)\n"
        f"  database  {redact(dsn)}  (the password: `noetl-pg db dsn`)\n"
        f"  try       noetl-pg run --gateway {url} examples/hello.yaml\n"
        "            noetl-pg ps   (same NOETL_DSN, or none: the same embedded server)\n"
        "Ctrl-C stops everything.",
        flush=True,
    )
