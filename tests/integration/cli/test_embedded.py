"""On a machine with nothing configured, `noetl-pg run` starts its own PostgreSQL."""

from __future__ import annotations

from noetl_pg.store.embedded import ensure_embedded_server
from tests.integration.cli.conftest import cli_env, noetl, printed_result


def test_run_hello_on_the_embedded_server(tmp_path):
    tmp_path.chmod(0o755)  # the server may run as another user; it must reach its home
    home = tmp_path / "home"
    env = cli_env(None, NOETL_HOME=str(home))
    try:
        done = noetl("run", "examples/hello.yaml", dsn=None, env=env)

        assert done.returncode == 0, done.stdout + done.stderr
        assert printed_result(done.stdout) == {"greeting": "hello, world!"}
        assert "start: completed in " in done.stdout
        # The server stays up for later commands, which see the same execution.
        listed = noetl("ps", dsn=None, env=env)
        assert "completed" in listed.stdout and "examples/hello v1" in listed.stdout
    finally:
        ensure_embedded_server(home, announce=False).stop("immediate")
