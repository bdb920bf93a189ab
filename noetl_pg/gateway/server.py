"""`noetl-gateway`: the HTTP API on uvicorn."""

from __future__ import annotations

import argparse
import logging
import os
import signal
import sys

import uvicorn

from noetl_pg.gateway.app import DEFAULT_MAX_BODY_BYTES, create_app
from noetl_pg.store.config import resolve_dsn


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="noetl-gateway",
        description=(
            "The noetl-pg HTTP API (docs at /docs).\n\n"
            "Configuration (environment):\n"
            "  NOETL_DSN        PostgreSQL DSN; when unset an embedded server is started\n"
            "  NOETL_API_TOKEN  an admin token; with it, or with any token made by\n"
            "                   `noetl-pg token create`, every endpoint but /api/v2/health\n"
            "                   needs Authorization: Bearer <token>\n"
            "  NOETL_LOG_LEVEL  DEBUG, INFO (default), WARNING, ERROR"
        ),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on")
    parser.add_argument("--port", type=int, default=8000, help="port to listen on")
    parser.add_argument(
        "--max-body-bytes",
        type=int,
        default=DEFAULT_MAX_BODY_BYTES,
        help=f"largest request body accepted (default {DEFAULT_MAX_BODY_BYTES})",
    )
    parser.add_argument(
        "--log-level",
        default=os.environ.get("NOETL_LOG_LEVEL", "INFO"),
        help="logging level (default: NOETL_LOG_LEVEL or INFO)",
    )
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    level = args.log_level.upper()
    logging.basicConfig(
        level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s", stream=sys.stderr
    )
    app = create_app(
        resolve_dsn(),
        api_token=os.environ.get("NOETL_API_TOKEN") or None,
        max_body_bytes=args.max_body_bytes,
    )
    # uvicorn shuts down gracefully on SIGTERM/SIGINT, then re-raises the signal into the
    # handler that was installed before it. A no-op one makes a stop that was asked for
    # end with exit code 0, like the engine and the worker.
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: None)
    uvicorn.run(app, host=args.host, port=args.port, log_level=level.lower())
    return 0


if __name__ == "__main__":
    sys.exit(main())
