"""A registered playbook version as the engine uses it: parsed, plus what the engine
derives from it once instead of once per command."""

from __future__ import annotations

from dataclasses import dataclass

from noetl_pg.dsl import Playbook
from noetl_pg.engine.scope import step_secrets


@dataclass(frozen=True)
class CompiledPlaybook:
    playbook: Playbook
    version: int  # the catalog's version number (1, 2, ...)
    secrets: dict[str, list[str]]  # step -> the secret names its templates mention

    @classmethod
    def of(cls, playbook: Playbook, version: int) -> CompiledPlaybook:
        return cls(
            playbook=playbook,
            version=version,
            secrets={step.step: step_secrets(playbook, step) for step in playbook.workflow},
        )
