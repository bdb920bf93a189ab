"""The typed vocabulary every process shares: what crosses a process boundary.

Event names, execution / step / command statuses and error kinds are string enums
(members compare equal to their strings, so they go into SQL and JSON as they are);
`Lease` fences a worker's hold on a command. Nothing else in `noetl_pg/` spells one of
these names as a bare string; the SQL migrations and named queries are the only other
place they appear.
"""

from noetl_pg.protocol.errors import ErrorKind
from noetl_pg.protocol.events import (
    APPLIED_EVENTS,
    CLIENT_EVENTS,
    ENGINE_EVENTS,
    RULE_EVENTS,
    EventName,
)
from noetl_pg.protocol.lease import Lease
from noetl_pg.protocol.status import (
    FINISHED_COMMANDS,
    TERMINAL,
    CallStatus,
    CommandStatus,
    ExecutionStatus,
    StepStatus,
)

__all__ = [
    "APPLIED_EVENTS",
    "CLIENT_EVENTS",
    "ENGINE_EVENTS",
    "FINISHED_COMMANDS",
    "RULE_EVENTS",
    "TERMINAL",
    "CallStatus",
    "CommandStatus",
    "ErrorKind",
    "EventName",
    "ExecutionStatus",
    "Lease",
    "StepStatus",
]
