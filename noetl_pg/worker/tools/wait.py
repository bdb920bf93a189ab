"""`wait`: a durable timer (`seconds`, `until`) or a wait for a signal (`signal`, with an
optional `timeout`).

The call parks its command as 'waiting' with a row in `noetl.wait` and returns at once:
no worker slot and no lease is held while it waits, and every restart keeps the wait.
The engine's maintenance scan writes the call.done when it wakes (engine/waits.py):
`{waited}` for a timer, the signal's payload for a signal, `error.kind: timeout` for a
signal that did not come in time.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import model_validator

from noetl_pg.protocol.tool_config import Seconds, Templated, ToolConfig, has_template
from noetl_pg.worker.tool import Deferred, ToolContext, ToolKind


class WaitConfig(ToolConfig):
    kind: Literal["wait"] = "wait"
    seconds: Templated[Seconds] | None = None
    until: Templated[datetime] | None = None
    signal: str | None = None
    timeout: Templated[Seconds] | None = None  # for a signal: give up after this long

    @model_validator(mode="after")
    def _one_of(self) -> WaitConfig:
        given = [name for name in ("seconds", "until", "signal") if getattr(self, name)]
        if len(given) != 1:
            raise ValueError(
                "wait tool needs exactly one of `seconds`, `until` or `signal`"
                + (f", not {' and '.join(given)}" if given else "")
            )
        if self.timeout is not None and self.signal is None:
            raise ValueError("wait tool `timeout` applies to a `signal` wait only")
        if self.until is not None and has_template(self.until):
            return self
        if isinstance(self.until, datetime) and self.until.tzinfo is None:
            raise ValueError("wait tool `until` needs a timezone (e.g. 2030-01-01T00:00:00Z)")
        return self


async def run(config: WaitConfig, args: dict[str, Any], ctx: ToolContext[None]) -> Any:
    after = config.seconds if config.signal is None else config.timeout
    parked = await ctx.queue.park_wait(
        ctx.lease,
        signal=config.signal,
        after=after,
        until=config.until if isinstance(config.until, datetime) else None,
    )
    return Deferred("waiting" if parked else "lease lost or already waiting")


KIND = ToolKind(config=WaitConfig, run=run)
