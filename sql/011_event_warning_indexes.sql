-- Every read of an execution's state gathers its warnings (get_execution_state): the
-- events with a diagnostic, and the refused ones. These partial indexes hold only such
-- events, so that read costs the execution's warnings, not all of its events.
CREATE INDEX IF NOT EXISTS idx_event_diagnostic
    ON noetl.event (execution_id, event_id) WHERE diagnostic IS NOT NULL;
CREATE INDEX IF NOT EXISTS idx_event_refused
    ON noetl.event (execution_id, event_id) WHERE error IS NOT NULL;
