"""A tiny local HTTP API for the http examples (standard library only).

    python examples/server.py --port 8080

Routes (the contract in examples/README.md):

    GET /items?page=N[&page_size=S]  one page of ITEMS (3 a page by default):
                                     {"items": [...], "page": N, "has_more": bool}
    GET /flaky?key=K&fail_times=N    503 for the first N requests with key K, then
                                     200 {"ok": true, "attempts": N + 1}
    GET /weather?city=C              the (made-up, fixed) weather of city C:
                                     {"city": C, "temperature_c": T, "conditions": S};
                                     404 for a city it does not know
    GET /health                      200 {"ok": true}
"""

from __future__ import annotations

import argparse
import json
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, urlsplit

ITEMS = [{"id": n, "name": f"item-{n}"} for n in range(1, 8)]
DEFAULT_PAGE_SIZE = 3
WEATHER = {
    "London": (14, "rain"),
    "Paris": (18, "cloudy"),
    "Madrid": (27, "sunny"),
    "Oslo": (6, "snow"),
}


class Handler(BaseHTTPRequestHandler):
    server_version = "noetl-example-server/1"
    # Requests seen per /flaky key; shared by every handler thread.
    flaky_counts: dict[str, int] = {}
    flaky_lock = threading.Lock()

    def do_GET(self) -> None:
        url = urlsplit(self.path)
        query = dict(parse_qsl(url.query))
        try:
            if url.path == "/items":
                self._items(query)
            elif url.path == "/flaky":
                self._flaky(query)
            elif url.path == "/weather":
                self._weather(query)
            elif url.path == "/health":
                self._json(200, {"ok": True})
            else:
                self._json(404, {"error": f"no route {url.path}"})
        except ValueError as exc:
            self._json(400, {"error": str(exc)})

    def _items(self, query: dict[str, str]) -> None:
        page = _positive_int(query, "page", 1)
        size = _positive_int(query, "page_size", DEFAULT_PAGE_SIZE)
        start = (page - 1) * size
        self._json(
            200,
            {
                "items": ITEMS[start : start + size],
                "page": page,
                "has_more": start + size < len(ITEMS),
            },
        )

    def _weather(self, query: dict[str, str]) -> None:
        city = query.get("city", "")
        if city not in WEATHER:
            self._json(404, {"error": f"no weather for city {city!r}"})
            return
        temperature, conditions = WEATHER[city]
        self._json(200, {"city": city, "temperature_c": temperature, "conditions": conditions})

    def _flaky(self, query: dict[str, str]) -> None:
        key = query.get("key", "")
        fail_times = _positive_int(query, "fail_times", 2, minimum=0)
        with self.flaky_lock:
            seen = self.flaky_counts.get(key, 0) + 1
            self.flaky_counts[key] = seen
        if seen <= fail_times:
            self._json(503, {"error": f"flaky: request {seen} of key {key!r} fails on purpose"})
        else:
            self._json(200, {"ok": True, "attempts": seen})

    def _json(self, status: int, value: Any) -> None:
        body = json.dumps(value).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        sys.stderr.write(f"{self.address_string()} {format % args}\n")


def _positive_int(query: dict[str, str], name: str, default: int, minimum: int = 1) -> int:
    raw = query.get(name)
    if raw is None:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ValueError(f"{name}={raw!r} is not an integer") from None
    if value < minimum:
        raise ValueError(f"{name} must be at least {minimum}")
    return value


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Local HTTP API for the noetl-pg examples.")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8080, help="0 picks a free port")
    parser.add_argument("--quiet", action="store_true", help="do not log requests")
    args = parser.parse_args(argv)
    if args.quiet:
        Handler.log_message = lambda self, format, *a: None  # type: ignore[method-assign]
    server = ThreadingHTTPServer((args.host, args.port), Handler)
    host, port = server.server_address[:2]
    print(f"serving http://{host}:{port}", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
