"""Secrets of one command: looked up in the worker's environment, remembered for redaction.

The worker fills the `{{ secret.NAME }}` placeholders the engine left in a command
(`noetl_pg.dsl.render.resolve_secrets`) through a `SecretLookup`, whose `used` values are
then redacted from the command's report.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping

from noetl_pg.dsl.render import TemplateError

SECRET_ENV_PREFIX = "NOETL_SECRET_"


class SecretLookup:
    """Looks secrets up as env `NOETL_SECRET_<NAME>` and remembers the values it gave out.

    Only the names in `allowed` are filled in: the engine lists, per command, the secrets
    its step's playbook templates mention. A placeholder for any other name can only have
    come from data (say, an API response rendered into a later call), and filling it in
    would send the secret wherever that data points.
    """

    def __init__(self, env: Mapping[str, str] = os.environ, allowed: Iterable[str] = ()) -> None:
        self.env = env
        self.allowed = frozenset(allowed)
        self.used: list[str] = []

    def __call__(self, name: str) -> str:
        if name not in self.allowed:
            raise TemplateError(
                f"{{{{ secret.{name} }}}}",
                f"secret {name!r} is not named by this step's playbook templates; a"
                " placeholder that arrives in data is never filled in",
            )
        for candidate in dict.fromkeys((name, name.upper())):
            value = self.env.get(SECRET_ENV_PREFIX + candidate)
            if value is not None:
                self.used.append(value)
                return value
        raise KeyError(name)
