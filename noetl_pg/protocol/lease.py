"""The lease: what fences a worker's hold on one command, on every transport."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Lease:
    """A report, heartbeat or release counts only while the queue row still holds this
    worker and this attempt; a worker whose lease was taken back records nothing."""

    queue_id: int
    worker_id: str
    attempt: int
