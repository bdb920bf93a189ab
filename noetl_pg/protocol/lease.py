"""The lease, and what a worker and its queue say to each other, on every transport.

A worker reaches `noetl.queue` either with SQL (`store/queue.py`) or over HTTP through the
gateway (`worker/remote.py` -> `gateway/workers.py`); both carry these same values, so the
worker's code does not know which one it runs on.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field


@dataclass(frozen=True)
class Lease:
    """A report, heartbeat or release counts only while the queue row still holds this
    worker and this attempt; a worker whose lease was taken back records nothing."""

    queue_id: int
    worker_id: str
    attempt: int


class LeasedCommand(BaseModel):
    """One command as a worker leased it: what to run, and the lease that fences it."""

    model_config = ConfigDict(extra="ignore")  # a queue row carries more than a worker needs

    queue_id: int
    execution_id: str
    step: str
    tool_kind: str
    tool_config: dict[str, Any] | None = None
    args: dict[str, Any] | None = None
    context: dict[str, Any] | None = None
    run_key: str | None = None
    timeout_seconds: float | None = None
    attempt: int
    assigned_worker_id: str
    priority: int = 0

    @property
    def lease(self) -> Lease:
        return Lease(self.queue_id, self.assigned_worker_id, self.attempt)

    @property
    def secret_names(self) -> list[str]:
        """The secrets the engine allowed this command to read."""
        return list((self.context or {}).get("secrets", []))


@dataclass(frozen=True)
class ChildStart:
    held: bool  # False: the lease was lost and nothing was written
    event_id: int | None  # the child's new workflow.start; None if it existed already


class QueueUnavailable(Exception):
    """The queue cannot be reached right now (the gateway is down or overloaded): the
    worker retries, exactly as when its database is down."""


class ReportRefused(Exception):
    """The report's payload was refused by the store (jsonb cannot hold it): the worker
    reports why instead."""


# --- the HTTP bodies of the worker endpoints (gateway/workers.py) ----------------------
# Numbers and booleans are strict: `"wait": false` or `"attempt": 1.0` is refused, not
# coerced (the API fuzzer holds the server to its schema).


class LeaseRef(BaseModel):
    model_config = ConfigDict(extra="forbid")

    queue_id: int = Field(ge=1, strict=True)
    worker_id: str = Field(min_length=1, max_length=64)
    attempt: int = Field(ge=1, strict=True)

    def lease(self) -> Lease:
        return Lease(self.queue_id, self.worker_id, self.attempt)

    @classmethod
    def of(cls, lease: Lease) -> LeaseRef:
        return cls(queue_id=lease.queue_id, worker_id=lease.worker_id, attempt=lease.attempt)


MAX_POLL_SECONDS = 60.0
MAX_LEASE_SECONDS = 3600.0


class LeaseRequest(BaseModel):
    """Lease up to `max` commands; when none is ready, wait up to `wait` seconds for one."""

    model_config = ConfigDict(extra="forbid")

    worker_id: str = Field(min_length=1, max_length=64)
    max: int = Field(default=1, ge=1, le=1000, strict=True)
    lease_seconds: float = Field(default=30.0, gt=0, le=MAX_LEASE_SECONDS, strict=True)
    wait: float = Field(default=0.0, ge=0, le=MAX_POLL_SECONDS, strict=True)


class LeaseReply(BaseModel):
    commands: list[LeasedCommand]


class LeasesRequest(BaseModel):
    """Heartbeat (extend) or release the given leases."""

    model_config = ConfigDict(extra="forbid")

    leases: list[LeaseRef] = Field(max_length=1000)
    lease_seconds: float = Field(default=30.0, gt=0, le=MAX_LEASE_SECONDS, strict=True)


class HeldReply(BaseModel):
    queue_ids: list[int]  # the leases still held (heartbeat) or given back (release)


class ReportRequest(BaseModel):
    """Finish a command: its call.done payload (a JSON object, as the worker checked it)."""

    model_config = ConfigDict(extra="forbid")

    lease: LeaseRef
    ok: bool = Field(strict=True)
    payload: dict[str, Any]
    last_error: str | None = Field(default=None, max_length=4000)


class ReportReply(BaseModel):
    event_id: int | None  # None: the lease was lost and nothing was recorded


class ChildRequest(BaseModel):
    """Park the command as waiting and start its child execution (the playbook tool)."""

    model_config = ConfigDict(extra="forbid")

    lease: LeaseRef
    child_execution_id: str = Field(min_length=1, max_length=64)
    payload: dict[str, Any]


class ChildReply(BaseModel):
    held: bool
    event_id: int | None


class WaitRequest(BaseModel):
    """Park the command as waiting on a timer or a signal (the wait tool)."""

    model_config = ConfigDict(extra="forbid")

    lease: LeaseRef
    signal: str | None = Field(default=None, min_length=1, max_length=200)
    after: float | None = Field(default=None, ge=0, strict=True)
    until: datetime | None = None


class WaitReply(BaseModel):
    parked: bool
