"""noetl-pg: a workflow orchestrator whose only durable store is PostgreSQL."""

from noetl_pg.state import ExecutionState, get_state

__all__ = ["ExecutionState", "get_state"]
