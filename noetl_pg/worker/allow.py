"""`--allow-tools`: the tool kinds this worker runs. Whoever may register a playbook may
run code on the workers (the python tool); a worker on a sensitive host lists the kinds
it accepts, and a command of any other kind fails with an error that says so."""

from __future__ import annotations

from dataclasses import dataclass

from noetl_pg.protocol import ErrorKind
from noetl_pg.protocol.tools import KNOWN_TOOL_KINDS, unknown_kind_message
from noetl_pg.worker.tool import ToolError

ALLOW_TOOLS_ENV = "NOETL_ALLOW_TOOLS"


@dataclass(frozen=True)
class ToolAllowList:
    kinds: frozenset[str] | None = None  # None: every kind

    @classmethod
    def parse(cls, text: str | None) -> ToolAllowList:
        """`http,postgres` -> those kinds; empty or None -> every kind. Unknown names raise."""
        names = [part.strip() for part in (text or "").split(",") if part.strip()]
        for name in names:
            if name not in KNOWN_TOOL_KINDS:
                raise ValueError(f"--allow-tools: {unknown_kind_message(name)}")
        return cls(frozenset(names) if names else None)

    def check(self, kind: str, worker_id: str) -> None:
        if self.kinds is not None and kind not in self.kinds:
            raise ToolError(
                ErrorKind.TOOL_NOT_ALLOWED,
                f"worker {worker_id} does not run {kind!r} tools"
                f" (--allow-tools {','.join(sorted(self.kinds))})",
                allowed=sorted(self.kinds),
            )
