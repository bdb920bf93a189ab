"""Error kinds: `error.kind` of a failed call, a failed step or a failed execution."""

from __future__ import annotations

from enum import StrEnum


class ErrorKind(StrEnum):
    # a tool call
    CONFIG = "config"  # the rendered tool config is unusable
    CONNECTION = "connection"
    TRANSPORT = "transport"
    HTTP_STATUS = "http_status"
    SQL = "sql"
    PYTHON = "python"  # the python tool's main raised
    TIMEOUT = "timeout"
    SECRET = "secret"
    UNKNOWN_TOOL = "unknown_tool"
    TOOL_NOT_ALLOWED = "tool_not_allowed"  # the worker's --allow-tools leaves this kind out
    RESULT_NOT_JSON = "result_not_json"
    RESULT_TOO_LARGE = "result_too_large"
    RESULT_NOT_STORABLE = "result_not_storable"
    LEASE_EXPIRED = "lease_expired"  # every attempt's lease ran out
    CHILD_FAILED = "child_failed"  # a sub-playbook ended failed or cancelled
    # the engine
    TEMPLATE = "template"
    FAIL = "fail"  # a `fail` action
    MAX_ITERATIONS = "max_iterations"
    INTERNAL = "internal"  # a bug, recorded instead of wedging the execution
