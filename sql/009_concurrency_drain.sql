-- Flow control, part two (DSL.md section 9): playbook `concurrency`, step `concurrency`
-- and drain.
--
-- Playbook `concurrency: {key, limit}`: an execution of such a playbook is created
-- `queued` with its rendered key, its limit and its place in line (the id of its
-- workflow.start). It holds a slot once admitted (`admitted_at`) until it finishes. The
-- transaction that queues one, or that ends one, admits the oldest queued executions of
-- the key while slots are free (under the key's lock, 7004); the engine's maintenance
-- scan does the same for any key left with a free slot.
ALTER TABLE noetl.execution DROP CONSTRAINT execution_status_check;
ALTER TABLE noetl.execution ADD CONSTRAINT execution_status_check
    CHECK (status IN ('pending', 'queued', 'running', 'completed', 'failed', 'cancelled'));
ALTER TABLE noetl.execution
    ADD COLUMN concurrency_key   TEXT,
    ADD COLUMN concurrency_limit INTEGER CHECK (concurrency_limit > 0),
    ADD COLUMN queued_seq        BIGINT,
    ADD COLUMN admitted_at       TIMESTAMPTZ;
-- The live executions of each key, in arrival order: what admission counts and walks.
CREATE INDEX idx_execution_concurrency ON noetl.execution (concurrency_key, queued_seq)
    WHERE concurrency_key IS NOT NULL AND finished_at IS NULL;

-- Step `concurrency: {limit}`: the limit is copied onto each of the step's commands, and
-- the lease query skips a command while `limit` commands of the same playbook path and
-- step are leased, across all executions.
ALTER TABLE noetl.queue ADD COLUMN step_limit INTEGER CHECK (step_limit > 0);
ALTER TABLE noetl.queue ADD COLUMN step_key TEXT;  -- path + step: what the limit counts
CREATE INDEX idx_queue_step_leased ON noetl.queue (step_key)
    WHERE status = 'leased' AND step_key IS NOT NULL;

-- Drain: one row. While `draining`, a new workflow.start is refused (the gateway answers
-- 503 `draining`; one inserted by SQL is recorded refused with that reason), schedules
-- do not fire, and running executions finish.
CREATE TABLE noetl.control (
    id          BOOLEAN     PRIMARY KEY DEFAULT true CHECK (id),
    draining    BOOLEAN     NOT NULL DEFAULT false,
    changed_at  TIMESTAMPTZ NOT NULL DEFAULT now(),
    changed_by  TEXT
);
INSERT INTO noetl.control DEFAULT VALUES;
