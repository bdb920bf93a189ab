"""The exit codes of every `noetl-pg` command, in one place (listed by `noetl-pg --help`)."""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Awaitable, Callable
from enum import IntEnum


class Exit(IntEnum):
    OK = 0  # done; for `run`/`start --wait`: the execution completed
    FAILED = 1  # the execution failed or was cancelled, or the orchestrator refused
    USAGE = 2  # bad arguments, or a playbook / workload that does not validate
    NOT_FOUND = 3  # no such execution or playbook, or the database cannot be reached
    INTERRUPTED = 130  # SIGINT (Ctrl-C): 128 + 2
    TERMINATED = 143  # SIGTERM: 128 + 15


HELP = "Exit codes:\n" + "\n".join(
    f"  {code.value:<4} {text}"
    for code, text in (
        (Exit.OK, "ok (run, start --wait: the execution completed)"),
        (Exit.FAILED, "the execution failed or was cancelled, or the request was refused"),
        (Exit.USAGE, "usage error, or a playbook/workload that does not validate"),
        (Exit.NOT_FOUND, "not found (execution, playbook), or no database connection"),
        (Exit.INTERRUPTED, "interrupted by SIGINT (Ctrl-C)"),
        (Exit.TERMINATED, "stopped by SIGTERM"),
    )
)


def exit_for(exc: BaseException) -> Exit:
    """The exit code of a refusal or a database error a command ran into."""
    import psycopg

    from noetl_pg.store.errors import ExecutionNotFound, PlaybookNotFound

    if isinstance(exc, ExecutionNotFound | PlaybookNotFound | psycopg.OperationalError):
        return Exit.NOT_FOUND
    return Exit.FAILED


def guarded(command: str, run: Callable[[], Awaitable[int]]) -> int:
    """Run a command's coroutine; a refusal or a database error is one line on stderr and
    its exit code, never a traceback."""
    import psycopg

    from noetl_pg.cli.dbclient import REFUSALS, explain_database_error

    try:
        return asyncio.run(run())
    except REFUSALS as exc:
        print(f"noetl-pg {command}: {exc}", file=sys.stderr)
        return exit_for(exc)
    except psycopg.Error as exc:
        print(f"noetl-pg {command}: {explain_database_error(exc)}", file=sys.stderr)
        return exit_for(exc)
