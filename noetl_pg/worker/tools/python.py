"""`python`: `code` defining `main(...)`, called in a separate process with the args by name
(`**kwargs` takes the rest); a `main` of one parameter that is not an arg name gets them all.

The processes form a long-lived pool (one interpreter serves many calls, one call at a
time), so user code can neither block the worker's event loop nor crash the worker. A
call that passes its timeout (`timeout` in tool_config, else the command's
timeout_seconds, else 60 s) or whose process dies is killed and its process replaced.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import struct
import sys
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, field_validator

from noetl_pg.protocol import ErrorKind
from noetl_pg.protocol.tool_config import Seconds, Templated, ToolConfig
from noetl_pg.worker.tool import ToolContext, ToolError, ToolKind, WorkerSettings

DEFAULT_TIMEOUT = 60.0
_CHILD = Path(__file__).with_name("_python_child.py")
_HEADER = struct.Struct(">Q")
# Secrets and credentials of the worker are not user code's business.
_PRIVATE_ENV_PREFIXES = ("NOETL_SECRET_", "NOETL_CONNECTION_")


class PythonConfig(ToolConfig):
    kind: Literal["python"] = "python"
    code: str = Field(description="Python source defining main(...)")
    timeout: Templated[Seconds] | None = None

    @field_validator("code")
    @classmethod
    def _not_blank(cls, code: str) -> str:
        if not code.strip():
            raise ValueError("python tool needs `code` defining main(...)")
        return code


async def run(config: PythonConfig, args: dict[str, Any], ctx: ToolContext[PythonPool]) -> Any:
    if not isinstance(args, dict):
        raise ToolError(ErrorKind.CONFIG, "python tool args must be a mapping (passed by name)")
    timeout = config.timeout or ctx.timeout_seconds or DEFAULT_TIMEOUT
    return await ctx.resource.call(
        config.code,
        args,
        timeout=float(timeout),
        limit=ctx.settings.max_result_bytes,
        redact=ctx.secrets_used,
    )


class _ChildDied(Exception):
    pass


class _Child:
    def __init__(self, process: asyncio.subprocess.Process) -> None:
        self.process = process

    @classmethod
    async def spawn(cls, memory_mb: int | None) -> _Child:
        env = {k: v for k, v in os.environ.items() if not k.startswith(_PRIVATE_ENV_PREFIXES)}
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            str(_CHILD),
            str(os.getpid()),
            str(memory_mb or 0),
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            env=env,
            start_new_session=True,  # a Ctrl-C to the worker's group is the worker's to handle
        )
        return cls(process)

    async def request(self, message: dict[str, Any]) -> dict[str, Any]:
        assert self.process.stdin is not None and self.process.stdout is not None
        body = json.dumps(message).encode()
        try:
            self.process.stdin.write(_HEADER.pack(len(body)) + body)
            await self.process.stdin.drain()
            (size,) = _HEADER.unpack(await self.process.stdout.readexactly(_HEADER.size))
            return json.loads(await self.process.stdout.readexactly(size))
        except (asyncio.IncompleteReadError, ConnectionError) as exc:
            raise _ChildDied(str(exc)) from None

    async def kill(self) -> int:
        if self.process.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                self.process.kill()
        return await self.process.wait()

    async def exit_code(self) -> int:
        """The code of a child that closed its end: wait for it briefly, then kill it.

        (Killing an already exited child would make Popen reap it behind asyncio's back,
        and its real exit code would be lost.)"""
        try:
            return await asyncio.wait_for(asyncio.shield(self.process.wait()), 2.0)
        except TimeoutError:
            return await self.kill()

    async def close(self) -> None:
        if self.process.returncode is None and self.process.stdin is not None:
            self.process.stdin.close()  # the child stops at end of input
            try:
                await asyncio.wait_for(self.process.wait(), 2.0)
            except TimeoutError:
                await self.kill()


class PythonPool:
    """Up to `size` interpreter processes, started on demand and reused."""

    def __init__(self, size: int, *, memory_mb: int | None = None) -> None:
        self._slots = asyncio.Semaphore(size)
        self._memory_mb = memory_mb
        self._idle: list[_Child] = []
        self._busy: set[_Child] = set()

    async def call(
        self,
        code: str,
        args: dict[str, Any],
        *,
        timeout: float,
        limit: int,
        redact: list[str] | None = None,
    ) -> Any:
        """Run `main(**args)` in a child; what its code prints has `redact` values masked."""
        try:
            body = {"code": code, "args": args, "limit": limit, "redact": redact or []}
            json.dumps(body)
        except (TypeError, ValueError) as exc:
            raise ToolError(ErrorKind.CONFIG, f"python tool args are not JSON: {exc}") from None
        async with self._slots:
            child = self._idle.pop() if self._idle else await _Child.spawn(self._memory_mb)
            self._busy.add(child)
            healthy = False
            try:
                reply = await asyncio.wait_for(child.request(body), timeout)
                healthy = True
            except TimeoutError:
                raise ToolError(
                    ErrorKind.TIMEOUT,
                    f"main() did not return within {timeout:g} s; its process was killed",
                    timeout=timeout,
                ) from None
            except _ChildDied:
                code_ = await child.exit_code()
                raise ToolError(
                    ErrorKind.PYTHON,
                    f"the python process exited (code {code_}) while running main(): "
                    "os._exit, a crash or the out-of-memory killer; it was replaced",
                    type="ProcessExit",
                    exit_code=code_,
                ) from None
            finally:
                self._busy.discard(child)
                if healthy:
                    self._idle.append(child)
                else:
                    await child.kill()
        if reply.get("ok"):
            return reply["result"]
        error = reply["error"]
        raise ToolError(ErrorKind(error.pop("kind")), error.pop("message"), **error)

    async def close(self) -> None:
        idle, self._idle = self._idle, []
        for child in idle:
            await child.close()
        for child in list(self._busy):
            await child.kill()

    async def __aenter__(self) -> PythonPool:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()


def open_pool(settings: WorkerSettings) -> PythonPool:
    return PythonPool(settings.concurrency, memory_mb=settings.python_memory_mb)


KIND = ToolKind(config=PythonConfig, run=run, resources=open_pool)
