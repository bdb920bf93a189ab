-- Deadlines (DSL.md section 9: playbook and step `timeout`). A deadline is a row, never
-- a timer in a process: the engine writes it in the transaction that starts the
-- execution or enters the step, and any engine's maintenance scan turns a passed one into
-- an unprocessed `timeout` event, however long every daemon was down when it passed.
CREATE TABLE noetl.deadline (
    deadline_id   BIGSERIAL        PRIMARY KEY,
    execution_id  VARCHAR(64)      NOT NULL,
    step          VARCHAR(255),              -- NULL: the playbook's own timeout
    run_id        TEXT,                      -- the step run the timeout ends
    seconds       DOUBLE PRECISION NOT NULL,
    fires_at      TIMESTAMPTZ      NOT NULL,
    created_at    TIMESTAMPTZ      NOT NULL DEFAULT now()
);
-- The scan walks this: the earliest deadlines first.
CREATE INDEX idx_deadline_due ON noetl.deadline (fires_at);
CREATE INDEX idx_deadline_execution ON noetl.deadline (execution_id);
