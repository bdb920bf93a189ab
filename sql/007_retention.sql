-- Retention walks finished executions oldest first (`expired_executions`); this index
-- holds only finished ones, so the walk never reads running executions or the rest of
-- the history.
CREATE INDEX IF NOT EXISTS idx_execution_finished
    ON noetl.execution (finished_at) WHERE finished_at IS NOT NULL;
