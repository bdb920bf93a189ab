"""What the store refuses, as one hierarchy the gateway and the CLI each translate.

Each class's docstring is its message, a template filled with the fields the refusal is
about, so a refusal reads the same over HTTP and in a terminal. `details` are the ids and
values a client can act on (the gateway sends them as the error's `details`).
"""

from __future__ import annotations

from typing import Any


class StoreError(Exception):
    """the store refused the request"""

    def __init__(self, *, details: dict[str, Any] | None = None, **fields: Any) -> None:
        self.details = dict(fields) if details is None else details
        self.message = " ".join((self.__doc__ or "").split()).format(**fields)
        super().__init__(self.message)


class PlaybookNotFound(StoreError):
    """no playbook {which} is registered"""

    def __init__(self, path: str, version: int | None = None) -> None:
        which = f"{path!r}" + (f" version {version}" if version is not None else "")
        super().__init__(details={"path": path, "version": version}, which=which)


class ExecutionExists(StoreError):
    """execution {execution_id!r} was already started"""

    def __init__(self, execution_id: str) -> None:
        super().__init__(execution_id=execution_id)


class ExecutionNotFound(StoreError):
    """no execution {execution_id!r}"""

    def __init__(self, execution_id: str) -> None:
        super().__init__(execution_id=execution_id)


class ExecutionFinished(StoreError):
    """execution {execution_id!r} is already {status}"""

    def __init__(self, execution_id: str, status: str) -> None:
        super().__init__(execution_id=execution_id, status=status)


class LeaseNotHeld(StoreError):
    """worker {worker_id!r} (attempt {attempt}) does not hold the lease of command
    {queue_id}; nothing was recorded"""

    def __init__(self, queue_id: int, worker_id: str, attempt: int, command: dict[str, Any]):
        super().__init__(
            details={  # the command as it is now: who holds it, at which attempt
                "queue_id": queue_id,
                "status": command["status"],
                "assigned_worker_id": command["assigned_worker_id"],
                "attempt": command["attempt"],
            },
            queue_id=queue_id,
            worker_id=worker_id,
            attempt=attempt,
        )


class CommandNotFound(LeaseNotHeld):
    """no command {queue_id}"""

    def __init__(self, queue_id: int) -> None:
        StoreError.__init__(self, queue_id=queue_id)


class CommandOfAnotherExecution(StoreError):
    """command {queue_id} belongs to execution {execution_id!r}, not {claimed!r}"""

    def __init__(self, queue_id: int, execution_id: str, claimed: str) -> None:
        super().__init__(
            details={"queue_id": queue_id, "execution_id": execution_id},
            queue_id=queue_id,
            execution_id=execution_id,
            claimed=claimed,
        )


class IdempotencyKeyReused(StoreError):
    """Idempotency-Key {key!r} was first used for a different request; a retry must
    repeat the request exactly, and a new request needs a new key"""

    def __init__(self, key: str) -> None:
        super().__init__(details={"header": "Idempotency-Key"}, key=key)


class NotRerunnable(StoreError):
    """execution {execution_id!r} is {status}: only a failed or cancelled one can be re-run"""

    def __init__(self, execution_id: str, status: str) -> None:
        super().__init__(execution_id=execution_id, status=status)


class NothingToRerun(StoreError):
    """execution {execution_id!r} has no failed step to enter again; name one (from_step)"""

    def __init__(self, execution_id: str) -> None:
        super().__init__(execution_id=execution_id)


class Draining(StoreError):
    """the deployment is draining: new workflows are refused until `noetl-pg drain off`"""

    def __init__(self) -> None:
        super().__init__(details={"draining": True})
