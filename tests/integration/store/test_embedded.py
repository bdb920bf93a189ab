"""The embedded PostgreSQL really starts, is reused, and survives a restart and a kill."""

from __future__ import annotations

import os
import signal

import psycopg

from noetl_pg.store.embedded import ensure_embedded_server
from tests.support.processes import wait_until


def _ask(dsn: str) -> int:
    with psycopg.connect(dsn, connect_timeout=5) as conn:
        return conn.execute("SELECT 41 + 1").fetchone()[0]


def _postmaster_pid(server) -> int:
    return int((server.data_dir / "postmaster.pid").read_text().splitlines()[0])


def test_embedded_server_starts_is_reused_and_survives_restart_and_kill(tmp_path):
    home = tmp_path / "home"
    tmp_path.chmod(0o755)
    server = ensure_embedded_server(home, announce=False)
    try:
        assert _ask(server.dsn) == 42
        again = ensure_embedded_server(home, announce=False)
        assert again.dsn == server.dsn  # reused, not started twice
        assert _postmaster_pid(again) == _postmaster_pid(server)

        server.stop("fast")
        assert not server.is_running()
        restarted = ensure_embedded_server(home, announce=False)
        assert _ask(restarted.dsn) == 42

        pid = _postmaster_pid(restarted)
        os.kill(pid, signal.SIGKILL)
        wait_until(lambda: not restarted.is_running(), timeout=30)
        recovered = ensure_embedded_server(home, announce=False)
        assert _ask(recovered.dsn) == 42
    finally:
        ensure_embedded_server(home, announce=False).stop("immediate")
