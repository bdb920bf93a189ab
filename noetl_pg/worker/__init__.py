"""The worker: leases commands from noetl.queue, runs their tools, reports back.

`WorkerExecutorV2` and `QueuePollerV2` are the user's guide's names (worker/guide.py),
loaded on first use so that importing a tool kind does not import the whole daemon.
"""

from typing import Any

GUIDE_NAMES = ("WorkerExecutorV2", "QueuePollerV2")


def __getattr__(name: str) -> Any:
    if name in GUIDE_NAMES:
        from noetl_pg.worker import guide

        return getattr(guide, name)
    raise AttributeError(f"module 'noetl_pg.worker' has no attribute {name!r}")
