"""noetl's engine or worker with notifications ignored: only the safety timers wake them.

`python -m bench.deaf engine|worker [--safety-interval S] [--concurrency N]` (NOETL_DSN).
The daemons are the real ones; only their Notifier's `enabled` flag is off, so what is
measured is the path a lost NOTIFY falls back on.
"""

from __future__ import annotations

import argparse
import logging
import os

from noetl_pg.engine.daemon import Engine
from noetl_pg.signals import run_until_stopped
from noetl_pg.store.notifier import Notifier
from noetl_pg.worker import daemon as worker_daemon
from noetl_pg.worker import sql_transport as worker_transport


class DeafNotifier(Notifier):
    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.enabled = False


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.deaf")
    parser.add_argument("role", choices=["engine", "worker"])
    parser.add_argument("--safety-interval", type=float, default=None)
    parser.add_argument("--concurrency", type=int, default=4)
    args = parser.parse_args(argv)
    logging.basicConfig(level=os.environ.get("NOETL_LOG_LEVEL", "WARNING").upper())
    dsn = os.environ["NOETL_DSN"]
    if args.role == "engine":
        daemon = Engine(dsn, safety_interval=args.safety_interval or 2.0)
        daemon.notifier.enabled = False
    else:
        worker_transport.Notifier = DeafNotifier  # the SQL transport builds it on entry
        daemon = worker_daemon.Worker(
            dsn, concurrency=args.concurrency, safety_interval=args.safety_interval or 5.0
        )

    run_until_stopped(daemon)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
