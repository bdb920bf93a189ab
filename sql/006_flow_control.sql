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

-- Schedules (`schedules:` of a playbook). Registering a version replaces its path's
-- schedules (the trigger below, in the registering transaction); `next_fire_at` is
-- computed by the engine's scan (it knows cron), which fires each tick once: it holds the
-- row's lock while it appends the tick's `workflow.start`, whose execution id is derived
-- from the schedule and the tick, so a second fire of a tick is a conflict, not a run.
CREATE TABLE noetl.schedule (
    path               TEXT         NOT NULL,
    name               TEXT         NOT NULL,
    version            INTEGER      NOT NULL,
    cron               TEXT,
    every_seconds      DOUBLE PRECISION,
    timezone           TEXT         NOT NULL DEFAULT 'UTC',
    workload           JSONB        NOT NULL DEFAULT '{}',
    overlap            TEXT         NOT NULL DEFAULT 'skip'
                       CHECK (overlap IN ('skip', 'allow', 'queue')),
    paused             BOOLEAN      NOT NULL DEFAULT false,
    next_fire_at       TIMESTAMPTZ,             -- NULL: the scan computes it
    last_fired_at      TIMESTAMPTZ,             -- the last tick that started a run
    last_execution_id  VARCHAR(64),
    fires              INTEGER      NOT NULL DEFAULT 0,
    skipped            INTEGER      NOT NULL DEFAULT 0,
    created_at         TIMESTAMPTZ  NOT NULL DEFAULT now(),
    PRIMARY KEY (path, name)
);
CREATE INDEX idx_schedule_due ON noetl.schedule (next_fire_at) WHERE NOT paused;

CREATE FUNCTION noetl.replace_schedules() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    DELETE FROM noetl.schedule WHERE path = NEW.path;
    INSERT INTO noetl.schedule (path, name, version, cron, every_seconds, timezone,
                                workload, overlap)
    SELECT NEW.path, COALESCE(s.value->>'name', s.ordinality::text), NEW.version,
           s.value->>'cron', (s.value->>'every')::float8,
           COALESCE(s.value->>'timezone', 'UTC'),
           COALESCE(s.value->'workload', '{}'::jsonb),
           COALESCE(s.value->>'overlap', 'skip')
      FROM jsonb_array_elements(COALESCE(NEW.spec->'schedules', '[]'::jsonb))
           WITH ORDINALITY AS s(value, ordinality);
    RETURN NULL;
END $$;

CREATE TRIGGER playbook_schedules AFTER INSERT ON noetl.playbook
    FOR EACH ROW EXECUTE FUNCTION noetl.replace_schedules();
