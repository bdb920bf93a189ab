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

-- Durable waits (the `wait` tool kind). The worker parks the command as 'waiting' and
-- writes this row, then lets go: no worker and no lease is held while it waits. The
-- engine's maintenance scan wakes it (a call.done for the parked command) when `wake_at`
-- passes (a timer, or a signal's timeout) or when a `signal` event of `signal_name`
-- exists for the execution that no other wait consumed (`signal_event_id` is unique, so
-- a signal is consumed once; one that arrived first is kept for the first wait).
CREATE TABLE noetl.wait (
    queue_id         BIGINT       PRIMARY KEY,
    execution_id     VARCHAR(64)  NOT NULL,
    step             VARCHAR(255) NOT NULL,
    signal_name      TEXT,                   -- NULL: a timer
    wake_at          TIMESTAMPTZ,            -- NULL: a signal without timeout
    seconds          DOUBLE PRECISION,       -- what a timer reports as `waited`
    created_at       TIMESTAMPTZ  NOT NULL DEFAULT now(),
    woken_at         TIMESTAMPTZ,
    signal_event_id  BIGINT       UNIQUE
);
CREATE INDEX idx_wait_due ON noetl.wait (wake_at) WHERE woken_at IS NULL;
CREATE INDEX idx_wait_signal ON noetl.wait (execution_id, signal_name)
    WHERE woken_at IS NULL AND signal_name IS NOT NULL;
CREATE INDEX idx_event_signal ON noetl.event (execution_id, event_id)
    WHERE event_type = 'signal';
