"""The user's guide's `state_store`: `from noetl_pg import state_store;
state_store.get_state(execution_id)`. State lives in PostgreSQL, so this reads it there
(the same query as `GET /api/v2/executions/{id}`); there is no separate store to keep."""

from noetl_pg.state import ExecutionView, get_state, read_state

__all__ = ["ExecutionView", "get_state", "read_state"]
