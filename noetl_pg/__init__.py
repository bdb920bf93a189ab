"""noetl-pg: a workflow orchestrator whose only durable store is PostgreSQL."""

from noetl_pg.state import ExecutionView, get_state

__all__ = ["ExecutionView", "get_state"]
