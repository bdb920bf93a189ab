-- noetl-pg schema, version 1.
-- Every durable fact of the orchestrator is a row here. Tables are keyed by execution_id
-- so that they can later be distributed (Citus) or partitioned by it.
--
-- Public notification channels (documented in README):
--   noetl_event  -- an unprocessed event was inserted (payload: empty)
--   noetl_queue  -- a command became available in noetl.queue (payload: empty)
-- Both are sent once per statement, never once per row: NOTIFY takes a cluster-wide lock
-- at commit, so fewer, smaller notifications keep commit throughput up.

CREATE SCHEMA IF NOT EXISTS noetl;

-- One registered version of a playbook. Versions are numbered 1, 2, ... per path and are
-- immutable, so engines may cache the parsed spec by (path, version) forever.
CREATE TABLE noetl.playbook (
    path          TEXT        NOT NULL,
    version       INTEGER     NOT NULL,
    name          TEXT        NOT NULL,
    label         TEXT,                       -- metadata.version, a free-form label
    yaml          TEXT        NOT NULL,
    spec          JSONB       NOT NULL,
    content_hash  TEXT        NOT NULL,
    created_at    TIMESTAMPTZ NOT NULL DEFAULT now(),
    PRIMARY KEY (path, version),
    UNIQUE (path, content_hash)
);

-- One run of a playbook. `state` is the engine's private bookkeeping (active step runs,
-- loops, outstanding commands); the other JSONB columns are what users read.
CREATE TABLE noetl.execution (
    execution_id        VARCHAR(64) PRIMARY KEY
                        DEFAULT ('exec-' || replace(gen_random_uuid()::text, '-', '')),
    path                TEXT,
    version             INTEGER,
    status              VARCHAR(20) NOT NULL DEFAULT 'pending'
                        CHECK (status IN ('pending', 'running', 'completed', 'failed', 'cancelled')),
    workload            JSONB       NOT NULL DEFAULT '{}',
    context             JSONB       NOT NULL DEFAULT '{}',
    step_results        JSONB       NOT NULL DEFAULT '{}',
    active_steps        TEXT[]      NOT NULL DEFAULT '{}',
    state               JSONB       NOT NULL DEFAULT '{}',
    result              JSONB,
    error               TEXT,
    parent_execution_id VARCHAR(64),
    parent_queue_id     BIGINT,
    last_event_id       BIGINT,                -- the last event applied (ordering proof)
    events_applied      INTEGER     NOT NULL DEFAULT 0,
    created_at          TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at          TIMESTAMPTZ NOT NULL DEFAULT now(),
    finished_at         TIMESTAMPTZ
);
CREATE INDEX idx_execution_status ON noetl.execution (status, created_at DESC);
CREATE INDEX idx_execution_path ON noetl.execution (path, created_at DESC);
CREATE INDEX idx_execution_parent ON noetl.execution (parent_execution_id)
    WHERE parent_execution_id IS NOT NULL;

-- The append-only event log. Clients insert `workflow.start`, `workflow.cancel` and
-- `call.done`; the engine inserts its own events already processed.
CREATE TABLE noetl.event (
    event_id      BIGSERIAL    PRIMARY KEY,
    execution_id  VARCHAR(64)  NOT NULL,
    event_type    VARCHAR(64)  NOT NULL,
    node_name     VARCHAR(255),
    status        VARCHAR(20),
    payload       JSONB        NOT NULL DEFAULT '{}',
    queue_id      BIGINT,                    -- the command a call.done reports on
    created_at    TIMESTAMPTZ  NOT NULL DEFAULT clock_timestamp(),
    processed_at  TIMESTAMPTZ,
    processed_by  VARCHAR(64),
    error         TEXT,                      -- why the event was refused, if it was
    commands_generated INTEGER,              -- commands enqueued when it was applied
    diagnostic    JSONB                      -- rule evaluation notes (a `when` that raised)
);
CREATE INDEX idx_event_execution ON noetl.event (execution_id, event_id);
CREATE INDEX idx_event_unprocessed ON noetl.event (event_id)
    WHERE processed_at IS NULL;

CREATE FUNCTION noetl.notify_event() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF EXISTS (SELECT 1 FROM new_rows WHERE processed_at IS NULL) THEN
        PERFORM pg_notify('noetl_event', '');
    END IF;
    RETURN NULL;
END $$;

CREATE TRIGGER event_notify AFTER INSERT ON noetl.event
    REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION noetl.notify_event();

-- One command for a worker. The first block of columns is the public shape of the v2
-- integration guide; the rest carries leases, backoff and results.
CREATE TABLE noetl.queue (
    queue_id            BIGSERIAL PRIMARY KEY,
    execution_id        VARCHAR(64)  NOT NULL,
    step                VARCHAR(255) NOT NULL,
    tool_kind           VARCHAR(50)  NOT NULL,
    tool_config         JSONB,
    args                JSONB,
    context             JSONB,
    attempt             INTEGER      DEFAULT 1,
    priority            INTEGER      DEFAULT 0,
    status              VARCHAR(20)  DEFAULT 'pending',
    assigned_worker_id  VARCHAR(64),
    created_at          TIMESTAMP    DEFAULT NOW(),
    updated_at          TIMESTAMP    DEFAULT NOW(),
    started_at          TIMESTAMP,
    completed_at        TIMESTAMP,
    -- beyond the guide:
    run_key             TEXT,                 -- which step run / iteration / call this is
    max_attempts        INTEGER      NOT NULL DEFAULT 3,
    available_at        TIMESTAMPTZ  NOT NULL DEFAULT now(),
    lease_expires_at    TIMESTAMPTZ,
    heartbeat_at        TIMESTAMPTZ,
    timeout_seconds     DOUBLE PRECISION,
    last_error          TEXT,
    CONSTRAINT queue_status_check CHECK (status IN
        ('pending', 'leased', 'waiting', 'done', 'failed', 'cancelled'))
);
CREATE INDEX idx_queue_status_priority ON noetl.queue (status, priority DESC, created_at ASC);
CREATE INDEX idx_queue_execution ON noetl.queue (execution_id);
CREATE INDEX idx_queue_worker ON noetl.queue (assigned_worker_id);
-- The lease query walks this: only pending rows, in the order they are handed out.
CREATE INDEX idx_queue_ready ON noetl.queue (priority DESC, created_at ASC, queue_id)
    WHERE status = 'pending';
CREATE INDEX idx_queue_leases ON noetl.queue (lease_expires_at) WHERE status = 'leased';

CREATE FUNCTION noetl.notify_queue() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF EXISTS (SELECT 1 FROM new_rows WHERE status = 'pending') THEN
        PERFORM pg_notify('noetl_queue', '');
    END IF;
    RETURN NULL;
END $$;

CREATE TRIGGER queue_notify_insert AFTER INSERT ON noetl.queue
    REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION noetl.notify_queue();
CREATE TRIGGER queue_notify_update AFTER UPDATE ON noetl.queue
    REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION noetl.notify_queue();

-- Idempotency keys of the gateway: a retried POST gets the first answer.
CREATE TABLE noetl.idempotency (
    key         TEXT        PRIMARY KEY,
    response    JSONB       NOT NULL,
    status_code INTEGER     NOT NULL,
    created_at  TIMESTAMPTZ NOT NULL DEFAULT now()
);
