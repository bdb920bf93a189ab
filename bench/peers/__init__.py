"""Other durable-execution systems on the same PostgreSQL, for the same no-op work.

Each peer runs in its own process (`python -m bench.peers.<name>_run`, printing one JSON
object) against its own fresh database, so that its global state, threads and pools never
meet ours. A peer whose package is not installed (`pip install -e '.[bench]'`) is
reported as such and skipped.
"""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from dataclasses import dataclass
from urllib.parse import quote

from psycopg.conninfo import conninfo_to_dict

NOT_INSTALLED = "not installed (pip install -e '.[bench]')"


@dataclass(frozen=True)
class Peer:
    name: str  # as printed
    package: str  # the import name that tells whether it is installed
    runner: str  # the module that measures it

    @property
    def installed(self) -> bool:
        return importlib.util.find_spec(self.package) is not None

    def run(self, dsn: str, args: list[str], timeout: float) -> dict:
        """Run the peer's measurement on `dsn` (an existing database) and return its JSON."""
        command = [sys.executable, "-m", self.runner, "--dsn", dsn, *args]
        done = subprocess.run(command, capture_output=True, text=True, timeout=timeout)
        if done.returncode != 0:
            raise RuntimeError(
                f"{self.name}: {' '.join(command)} exited with {done.returncode}:\n"
                f"{done.stderr[-4000:]}"
            )
        lines = done.stdout.strip().splitlines()
        if not lines:
            raise RuntimeError(f"{self.name}: {self.runner} printed nothing; {done.stderr[-2000:]}")
        return json.loads(lines[-1])


DBOS = Peer("DBOS", "dbos", "bench.peers.dbos_run")
PROCRASTINATE = Peer("procrastinate", "procrastinate", "bench.peers.procrastinate_run")


def sqlalchemy_url(dsn: str) -> str:
    """A libpq DSN (URL or key=value) as the postgresql:// URL SQLAlchemy-based peers take."""
    params = conninfo_to_dict(dsn)
    user = quote(params.get("user") or "", safe="")
    password = params.get("password")
    auth = f"{user}:{quote(password, safe='')}@" if password else (f"{user}@" if user else "")
    host = params.get("host") or "localhost"
    port = params.get("port") or "5432"
    return f"postgresql://{auth}{host}:{port}/{quote(params.get('dbname') or '', safe='')}"
