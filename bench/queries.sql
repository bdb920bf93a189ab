-- Benchmark SQL: the raw-SQL baseline (its tables and its round trips) and the
-- measurements read back from event and queue timestamps. Loaded by name, as in
-- noetl_pg/store/queries.

-- name: baseline_schema
-- The baseline's own tables: the smallest event log and queue that carry the same round
-- trips as noetl (insert event + NOTIFY, claim, insert command + NOTIFY, lease, report).
DROP SCHEMA IF EXISTS noetl_bench CASCADE;
CREATE SCHEMA noetl_bench;
CREATE TABLE noetl_bench.event (
    event_id      BIGSERIAL   PRIMARY KEY,
    execution_id  TEXT        NOT NULL,
    step          INTEGER     NOT NULL,        -- the step reported on; -1 starts the chain
    steps         INTEGER     NOT NULL,        -- the chain's length
    payload       JSONB       NOT NULL DEFAULT '{}',
    created_at    TIMESTAMPTZ NOT NULL DEFAULT clock_timestamp(),
    processed_at  TIMESTAMPTZ
);
CREATE INDEX ON noetl_bench.event (event_id) WHERE processed_at IS NULL;
CREATE INDEX ON noetl_bench.event (execution_id);
CREATE TABLE noetl_bench.queue (
    queue_id      BIGSERIAL   PRIMARY KEY,
    execution_id  TEXT        NOT NULL,
    step          INTEGER     NOT NULL,
    steps         INTEGER     NOT NULL,
    args          JSONB       NOT NULL DEFAULT '{}',
    status        TEXT        NOT NULL DEFAULT 'pending',
    worker_id     TEXT,
    created_at    TIMESTAMPTZ NOT NULL DEFAULT clock_timestamp(),
    leased_at     TIMESTAMPTZ,
    done_at       TIMESTAMPTZ
);
CREATE INDEX ON noetl_bench.queue (queue_id) WHERE status = 'pending';
CREATE INDEX ON noetl_bench.queue (execution_id);
CREATE TABLE noetl_bench.state (               -- the one-transaction floor's state write
    execution_id  TEXT        PRIMARY KEY,
    step          INTEGER     NOT NULL,
    updated_at    TIMESTAMPTZ NOT NULL
);
-- Wake the engine only for events it must apply, the workers only for pending commands:
-- what the one-transaction floor inserts applied or leased to itself wakes nobody.
CREATE FUNCTION noetl_bench.notify_event() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF EXISTS (SELECT 1 FROM inserted WHERE processed_at IS NULL) THEN
        PERFORM pg_notify('noetl_bench_event', '');
    END IF;
    RETURN NULL;
END $$;
CREATE TRIGGER event_notify AFTER INSERT ON noetl_bench.event REFERENCING NEW TABLE AS inserted
    FOR EACH STATEMENT EXECUTE FUNCTION noetl_bench.notify_event();
CREATE FUNCTION noetl_bench.notify_queue() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF EXISTS (SELECT 1 FROM inserted WHERE status = 'pending') THEN
        PERFORM pg_notify('noetl_bench_queue', '');
    END IF;
    RETURN NULL;
END $$;
CREATE TRIGGER queue_notify AFTER INSERT ON noetl_bench.queue REFERENCING NEW TABLE AS inserted
    FOR EACH STATEMENT EXECUTE FUNCTION noetl_bench.notify_queue();

-- name: baseline_drop
-- Remove the baseline's tables.
DROP SCHEMA IF EXISTS noetl_bench CASCADE;

-- name: baseline_start
-- Start chains: one event per execution, step -1, in one statement (one NOTIFY).
INSERT INTO noetl_bench.event (execution_id, step, steps)
SELECT id, -1, %(steps)s FROM unnest(%(ids)s::text[]) AS id;

-- name: baseline_claim
-- The baseline engine's claim: unprocessed events, oldest first, skipping locked rows.
SELECT event_id, execution_id, step, steps, payload
  FROM noetl_bench.event
 WHERE processed_at IS NULL
 ORDER BY event_id
 LIMIT %(batch)s
   FOR UPDATE SKIP LOCKED;

-- name: baseline_insert_commands
-- The next command of each chain, in one statement (one NOTIFY).
INSERT INTO noetl_bench.queue (execution_id, step, steps, args)
SELECT id, step, steps, jsonb_build_object('n', step)
  FROM unnest(%(ids)s::text[], %(steps)s::int[], %(lengths)s::int[]) AS r(id, step, steps);

-- name: baseline_mark_processed
-- The claimed events are applied.
UPDATE noetl_bench.event SET processed_at = clock_timestamp() WHERE event_id = ANY(%(ids)s);

-- name: baseline_lease
-- The baseline worker's lease: up to n pending commands, skipping locked rows.
WITH candidate AS (
    SELECT queue_id
      FROM noetl_bench.queue
     WHERE status = 'pending'
     ORDER BY queue_id
     LIMIT %(n)s
       FOR UPDATE SKIP LOCKED
)
UPDATE noetl_bench.queue q
   SET status = 'leased', worker_id = %(worker_id)s, leased_at = now()
  FROM candidate c
 WHERE q.queue_id = c.queue_id
RETURNING q.queue_id, q.execution_id, q.step, q.steps, q.args;

-- name: baseline_report
-- Fenced report: finish the command and append its event in one statement.
WITH finished AS (
    UPDATE noetl_bench.queue
       SET status = 'done', done_at = now()
     WHERE queue_id = %(queue_id)s AND status = 'leased' AND worker_id = %(worker_id)s
    RETURNING execution_id, step, steps
)
INSERT INTO noetl_bench.event (execution_id, step, steps, payload)
SELECT execution_id, step, steps, %(payload)s::jsonb FROM finished
RETURNING event_id;

-- name: one_tx_report
-- The one-transaction step (the fast path's ceiling), for one or many commands in one
-- statement: finish each leased command (fenced), take its execution's advisory lock if
-- free, and where it was taken apply the event in place (inserted processed, the state
-- row written) and insert the chain's next command already leased to this worker.
-- Where the lock was not free the event is left unprocessed for the engine (NOTIFY).
WITH reported AS (
    SELECT * FROM unnest(%(queue_ids)s::bigint[], %(payloads)s::jsonb[]) AS r(queue_id, payload)
), finished AS (
    UPDATE noetl_bench.queue q
       SET status = 'done', done_at = clock_timestamp()
      FROM reported r
     WHERE q.queue_id = r.queue_id AND q.status = 'leased' AND q.worker_id = %(worker_id)s
    RETURNING q.execution_id, q.step, q.steps, r.payload
), locked AS MATERIALIZED (
    SELECT f.*, pg_try_advisory_xact_lock(hashtext(f.execution_id)) AS applied FROM finished f
), events AS (  -- the main query reads it, so the event is written before the next command
    INSERT INTO noetl_bench.event (execution_id, step, steps, payload, processed_at)
    SELECT execution_id, step, steps, payload, CASE WHEN applied THEN clock_timestamp() END
      FROM locked
    RETURNING execution_id, step, steps, processed_at IS NOT NULL AS applied
), state AS (
    INSERT INTO noetl_bench.state (execution_id, step, updated_at)
    SELECT execution_id, step, clock_timestamp() FROM locked WHERE applied
    ON CONFLICT (execution_id) DO UPDATE SET step = excluded.step, updated_at = excluded.updated_at
)
INSERT INTO noetl_bench.queue (execution_id, step, steps, args, status, worker_id, leased_at)
SELECT execution_id, step + 1, steps, jsonb_build_object('n', step + 1), 'leased',
       %(worker_id)s, clock_timestamp()
  FROM events
 WHERE applied AND step + 1 < steps
RETURNING queue_id, execution_id, step, steps, args;

-- name: baseline_finished
-- How many of the given chains have had their last step's event applied.
SELECT count(*)::int AS n
  FROM noetl_bench.event
 WHERE execution_id = ANY(%(ids)s) AND step = steps - 1 AND processed_at IS NOT NULL;

-- name: baseline_span
-- First start inserted to last event applied, in seconds.
SELECT extract(epoch FROM max(processed_at) - min(created_at))::float8 AS seconds
  FROM noetl_bench.event
 WHERE execution_id = ANY(%(ids)s);

-- name: baseline_step_latencies
-- Command inserted (the step entered) to its report applied (the step exited), in ms.
SELECT extract(epoch FROM e.processed_at - q.created_at)::float8 * 1000 AS ms
  FROM noetl_bench.queue q
  JOIN noetl_bench.event e ON e.execution_id = q.execution_id AND e.step = q.step
 WHERE q.execution_id = ANY(%(ids)s);

-- name: baseline_wakes
-- A report inserted to the next command leased (wake_ms), and to that command's insert
-- by the engine (engine_ms), in ms.
SELECT extract(epoch FROM q.leased_at - e.created_at)::float8 * 1000 AS wake_ms,
       extract(epoch FROM q.created_at - e.created_at)::float8 * 1000 AS engine_ms
  FROM noetl_bench.event e
  JOIN noetl_bench.queue q ON q.execution_id = e.execution_id AND q.step = e.step + 1
 WHERE e.execution_id = ANY(%(ids)s) AND e.step >= 0;

-- name: baseline_periods
-- A report inserted to the same chain's next report inserted, in ms: what one step costs
-- end to end on either floor.
SELECT ms FROM (
    SELECT extract(epoch FROM created_at - lag(created_at) OVER w)::float8 * 1000 AS ms
      FROM noetl_bench.event
     WHERE execution_id = ANY(%(ids)s) AND step >= 0
    WINDOW w AS (PARTITION BY execution_id ORDER BY step)
) AS periods
 WHERE ms IS NOT NULL;

-- name: ours_start
-- Start executions of one playbook with chosen ids, in one statement (one NOTIFY).
INSERT INTO noetl.event (execution_id, event_type, payload)
SELECT id, 'workflow.start', jsonb_build_object('path', %(path)s::text)
  FROM unnest(%(ids)s::text[]) AS id;

-- name: ours_finished
-- How many of the given executions have ended, and how many of those did not complete.
SELECT count(*)::int AS n,
       count(*) FILTER (WHERE status <> 'completed')::int AS bad
  FROM noetl.execution
 WHERE execution_id = ANY(%(ids)s) AND status IN ('completed', 'failed', 'cancelled');

-- name: ours_span
-- First workflow.start inserted to last execution finished, in seconds.
SELECT extract(epoch FROM (SELECT max(finished_at) FROM noetl.execution
                            WHERE execution_id = ANY(%(ids)s))
                         - (SELECT min(created_at) FROM noetl.event
                             WHERE execution_id = ANY(%(ids)s)
                               AND event_type = 'workflow.start'))::float8 AS seconds;

-- name: ours_step_latencies
-- step.enter to step.exit of each step, in ms (engine timestamps).
SELECT extract(epoch FROM x.created_at - e.created_at)::float8 * 1000 AS ms
  FROM noetl.event e
  JOIN noetl.event x ON x.execution_id = e.execution_id AND x.node_name = e.node_name
                    AND x.event_type = 'step.exit'
 WHERE e.execution_id = ANY(%(ids)s) AND e.event_type = 'step.enter';

-- name: ours_step_times
-- Each step's step.enter and step.exit (engine timestamps, epoch seconds) by its place in
-- the chain (start = 0, sK = K).
SELECT CASE WHEN e.node_name = 'start' THEN 0 ELSE substr(e.node_name, 2)::int END AS k,
       extract(epoch FROM e.created_at)::float8 AS entered,
       extract(epoch FROM x.created_at)::float8 AS exited
  FROM noetl.event e
  JOIN noetl.event x ON x.execution_id = e.execution_id AND x.node_name = e.node_name
                    AND x.event_type = 'step.exit'
 WHERE e.execution_id = %(id)s AND e.event_type = 'step.enter'
 ORDER BY k;

-- name: ours_wakes
-- A call.done inserted to the next step's command leased (wake_ms), and to that step's
-- step.enter written by the engine (engine_ms), in ms. Steps are named start, s1, s2, ...
SELECT extract(epoch FROM q.started_at::timestamptz - d.created_at)::float8 * 1000 AS wake_ms,
       extract(epoch FROM n.created_at - d.created_at)::float8 * 1000 AS engine_ms
  FROM noetl.event d
  JOIN noetl.queue q ON q.execution_id = d.execution_id
                    AND q.step = 's' || (CASE WHEN d.node_name = 'start' THEN 0
                                              ELSE substr(d.node_name, 2)::int END + 1)
  JOIN noetl.event n ON n.execution_id = d.execution_id AND n.event_type = 'step.enter'
                    AND n.node_name = q.step
 WHERE d.execution_id = ANY(%(ids)s) AND d.event_type = 'call.done';

-- name: ours_periods
-- A call.done inserted to the same execution's next call.done inserted, in ms: what one
-- step of a chain costs end to end (for a noop step: the hop, the run and the report up to
-- its insert), whichever path moved it.
SELECT ms FROM (
    SELECT extract(epoch FROM created_at - lag(created_at) OVER w)::float8 * 1000 AS ms
      FROM noetl.event
     WHERE execution_id = ANY(%(ids)s) AND event_type = 'call.done'
    WINDOW w AS (PARTITION BY execution_id ORDER BY event_id)
) AS periods
 WHERE ms IS NOT NULL;

-- name: listeners
-- Daemons of this database that are listening (their LISTEN connection is open).
SELECT count(*)::int AS n
  FROM pg_stat_activity
 WHERE datname = current_database() AND application_name LIKE %(pattern)s;

-- name: transactions
-- Transactions this database has committed or rolled back (as reported so far by every
-- session; a busy session reports at most once a second, an idle one within 10 s).
SELECT (xact_commit + xact_rollback)::bigint AS n
  FROM pg_stat_database
 WHERE datname = current_database();

-- name: truncate_all
-- Empty the orchestrator's and the baseline's tables between phases (own database only).
TRUNCATE noetl.event, noetl.queue, noetl.execution, noetl_bench.event, noetl_bench.queue,
         noetl_bench.state;

-- name: history_executions
-- The history bench (`bench/history.py`): finished executions spread over four weeks.
INSERT INTO noetl.execution (execution_id, path, version, status, created_at, finished_at)
SELECT 'hist-' || g, 'bench/history', 1, 'completed',
       now() - interval '28 days' * (1 - g::float8 / %(executions)s),
       now() - interval '28 days' * (1 - g::float8 / %(executions)s)
  FROM generate_series(1, %(executions)s) AS g;

-- name: history_events
-- Their events, ten each, applied, in the weeks their executions ran (event triggers off).
INSERT INTO noetl.event (event_id, execution_id, event_type, node_name, status, payload,
                         created_at, processed_at, processed_by)
SELECT g, 'hist-' || ((g - 1) / 10 + 1), 'call.done', 'step', 'ok', '{}',
       now() - interval '28 days' * (1 - g::float8 / %(events)s), now(), 'bench'
  FROM generate_series(1, %(events)s) AS g;

-- name: history_queue
-- Their finished commands, two each.
INSERT INTO noetl.queue (execution_id, step, tool_kind, status, attempt, assigned_worker_id,
                         created_at, completed_at, run_key)
SELECT 'hist-' || ((g - 1) / 2 + 1), 'step', 'python', 'done', 1, 'worker-' || (g %% 16),
       (now() - interval '28 days' * (1 - g::float8 / %(commands)s))::timestamp, now(),
       'step:' || g
  FROM generate_series(1, %(commands)s) AS g;

-- name: history_live
-- The live work measured on both sides: 20 running executions, 100 pending commands and
-- 100 unapplied events (numbered after the history).
WITH executions AS (
    INSERT INTO noetl.execution (execution_id, path, version, status)
    SELECT 'live-' || g, 'bench/history', 1, 'running' FROM generate_series(1, 20) AS g
), commands AS (
    INSERT INTO noetl.queue (execution_id, step, tool_kind, status, run_key)
    SELECT 'live-' || (mod(g, 20) + 1), 'step', 'python', 'pending', 'live:' || g
      FROM generate_series(1, 100) AS g
)
INSERT INTO noetl.event (execution_id, event_type, node_name, status, payload)
SELECT 'live-' || (mod(g, 20) + 1), 'call.done', 'step', 'ok', '{}'
  FROM generate_series(1, 100) AS g;
