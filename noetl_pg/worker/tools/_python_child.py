"""The child side of the python tool: a long-lived interpreter that runs `main(...)`.

Run as a script (it imports nothing from noetl_pg). Requests and replies are JSON
documents, each preceded by its length (8 bytes, big-endian), on the original stdin and
stdout; user code gets /dev/null as stdin and the worker's stderr as stdout, so a
`print` never corrupts the protocol. What user code prints has the values of the call's
secrets (the request's `redact`) masked, as its report does. Every call runs in a fresh
namespace.
"""

from __future__ import annotations

import asyncio
import ctypes
import inspect
import json
import os
import resource
import signal
import struct
import sys
import traceback
from typing import Any

_HEADER = struct.Struct(">Q")
_FILENAME = "<python tool code>"


def main() -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the worker decides when we stop
    _die_with_parent()
    _cap_memory(int(sys.argv[2]) if len(sys.argv) > 2 else 0)
    requests = os.fdopen(os.dup(0), "rb")
    replies = os.fdopen(os.dup(1), "wb")
    devnull = os.open(os.devnull, os.O_RDONLY)
    os.dup2(devnull, 0)
    os.dup2(2, 1)
    sys.stdin = open(os.devnull)  # noqa: SIM115 - lives as long as the process
    output = _Redacting(sys.stderr)
    sys.stdout = sys.stderr = output
    while True:
        header = requests.read(_HEADER.size)
        if len(header) < _HEADER.size:
            return  # the worker closed the pipe: stop
        (size,) = _HEADER.unpack(header)
        request = json.loads(requests.read(size))
        output.secrets = [value for value in request.get("redact", []) if value]
        reply = _call(request["code"], request["args"], request["limit"])
        output.flush()
        output.secrets = []
        replies.write(_HEADER.pack(len(reply)) + reply)
        replies.flush()


class _Redacting:
    """A text stream that masks secret values before they reach the worker's stderr."""

    def __init__(self, target: Any) -> None:
        self.target = target
        self.secrets: list[str] = []

    def write(self, text: str) -> int:
        for secret in self.secrets:
            text = text.replace(secret, "[secret]")  # report.REDACTED; this file imports nothing
        return self.target.write(text)

    def flush(self) -> None:
        self.target.flush()

    def __getattr__(self, name: str) -> Any:
        return getattr(self.target, name)


def _call(code: str, args: dict[str, Any], limit: int) -> bytes:
    try:
        namespace: dict[str, Any] = {"__name__": "noetl_python_tool"}
        exec(compile(code, _FILENAME, "exec"), namespace)
        function = namespace.get("main")
        if not callable(function):
            return _error("config", "the python tool's `code` does not define main(...)")
        result = _invoke(function, args)
        if inspect.isawaitable(result):
            result = asyncio.run(_await(result))
    except SystemExit as exc:
        return _error(
            "python",
            f"main() tried to exit the interpreter (SystemExit({exc.code!r})); "
            "return a value or raise an exception instead",
            type="SystemExit",
            traceback=_traceback(exc),
        )
    except BaseException as exc:
        details: dict[str, Any] = {"type": type(exc).__name__, "traceback": _traceback(exc)}
        line = _code_line(exc)
        if line is not None:
            details["line"] = line
        return _error("python", str(exc), **details)
    try:
        text = json.dumps(result, allow_nan=False, ensure_ascii=False)
    except (TypeError, ValueError) as exc:
        return _error(
            "python",
            f"main() returned a value that is not JSON-serialisable: {exc}",
            type=type(exc).__name__,
        )
    encoded = text.encode()
    if len(encoded) > limit:
        return _error(
            "result_too_large",
            f"main() returned {len(encoded)} bytes of JSON, over the limit of {limit} bytes",
            size=len(encoded),
            limit=limit,
        )
    return b'{"ok": true, "result": ' + encoded + b"}"


def _invoke(function: Any, args: dict[str, Any]) -> Any:
    """`main(**args)`, except that a `main` with exactly one parameter that is not an arg
    name (NoETL's `def main(input_data)`) receives the whole mapping."""
    try:
        parameters = list(inspect.signature(function).parameters.values())
    except (TypeError, ValueError):
        return function(**args)
    positional = (inspect.Parameter.POSITIONAL_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)
    if len(parameters) == 1 and parameters[0].kind in positional and parameters[0].name not in args:
        return function(args)
    return function(**args)


def _code_line(exc: BaseException) -> int | None:
    """The line of the step's code where the exception was raised (its deepest frame
    in the user's code), or None when it came from elsewhere (a syntax error has its own)."""
    if isinstance(exc, SyntaxError) and exc.filename == _FILENAME:
        return exc.lineno
    line = None
    for frame in traceback.extract_tb(exc.__traceback__):
        if frame.filename == _FILENAME:
            line = frame.lineno
    return line


async def _await(awaitable: Any) -> Any:
    return await awaitable


def _error(kind: str, message: str, **details: Any) -> bytes:
    error = {"kind": kind, "message": message, **details}
    return json.dumps({"ok": False, "error": error}, default=repr).encode()


def _traceback(exc: BaseException) -> str:
    # Drop the harness frame: the traceback starts in the user's code.
    tb = exc.__traceback__.tb_next if exc.__traceback__ else None
    return "".join(traceback.format_exception(type(exc), exc, tb))


def _cap_memory(megabytes: int) -> None:
    """Bound this process's address space: user code past it gets MemoryError, the
    worker and the machine are untouched."""
    if megabytes > 0:
        limit = megabytes * 1024 * 1024
        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))


def _die_with_parent() -> None:
    """Linux: get SIGKILL when the worker dies, even in the middle of user code."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        pr_set_pdeathsig = 1
        libc.prctl(pr_set_pdeathsig, signal.SIGKILL)
    except (OSError, AttributeError):
        pass
    if len(sys.argv) > 1 and os.getppid() != int(sys.argv[1]):
        os._exit(0)  # the worker died before prctl took effect


if __name__ == "__main__":
    main()
