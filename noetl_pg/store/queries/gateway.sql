-- name: get_execution_state
-- The state users read (HTTP and get_state): the execution row, or, before an engine has
-- created it, the pending (or refused) workflow.start event that will create it.
SELECT execution_id, path, status, current_steps, step_results, context, result, error
  FROM (
        SELECT x.execution_id, x.path, x.status, x.active_steps AS current_steps,
               x.step_results, x.context, x.result, x.error, 0 AS source, 0::bigint AS seq
          FROM noetl.execution x
         WHERE x.execution_id = %(execution_id)s
        UNION ALL
        SELECT e.execution_id, e.payload ->> 'path',
               CASE WHEN e.processed_at IS NOT NULL AND e.error IS NOT NULL
                    THEN 'failed' ELSE 'pending' END,
               '{}'::text[], '{}'::jsonb, '{}'::jsonb, NULL::jsonb, e.error, 1, e.event_id
          FROM noetl.event e
         WHERE e.execution_id = %(execution_id)s
           AND e.event_type = 'workflow.start'
       ) AS candidates
 ORDER BY source, seq
 LIMIT 1;

-- name: list_executions
-- Newest first, optionally filtered, keyset-paginated on (created_at, execution_id).
SELECT execution_id, path, version, status, parent_execution_id, error,
       created_at, updated_at, finished_at
  FROM noetl.execution
 WHERE (%(status)s::text IS NULL OR status = %(status)s::text)
   AND (%(path)s::text IS NULL OR path = %(path)s::text)
   AND (%(after_created_at)s::timestamptz IS NULL
        OR (created_at, execution_id) < (%(after_created_at)s::timestamptz,
                                         %(after_execution_id)s::text))
 ORDER BY created_at DESC, execution_id DESC
 LIMIT %(limit)s;

-- name: lock_execution_id
-- Serialise the gateway's checks-then-insert on one execution id (a start that must not
-- exist yet, a cancel that needs the execution to exist).
SELECT pg_advisory_xact_lock(hashtext('noetl.execution:' || %(execution_id)s));

-- name: execution_started
-- True when the execution exists or a workflow.start for it was already accepted.
SELECT EXISTS (SELECT 1 FROM noetl.execution WHERE execution_id = %(execution_id)s)
    OR EXISTS (SELECT 1 FROM noetl.event
                WHERE execution_id = %(execution_id)s AND event_type = 'workflow.start')
       AS started;

-- name: insert_client_event
-- An event written by a client; the insert trigger wakes the engines.
INSERT INTO noetl.event (execution_id, event_type, node_name, status, payload)
VALUES (%(execution_id)s, %(name)s, %(step)s, NULL, %(payload)s)
RETURNING event_id, execution_id;

-- name: describe_command
-- Why a fenced report found no lease: the command as it is now.
SELECT queue_id, execution_id, step, status, assigned_worker_id, attempt
  FROM noetl.queue
 WHERE queue_id = %(queue_id)s;

-- name: processed_events
-- Which of the awaited events an engine has applied (one query for every waiter).
SELECT event_id, execution_id, commands_generated, error
  FROM noetl.event
 WHERE execution_id = ANY(%(execution_ids)s::text[])
   AND event_id = ANY(%(event_ids)s::bigint[])
   AND processed_at IS NOT NULL;

-- name: list_execution_events
-- The event log of one execution in the order it is applied.
SELECT event_id, execution_id, event_type AS name, node_name AS step, status, payload,
       queue_id, created_at, processed_at, error, commands_generated, diagnostic
  FROM noetl.event
 WHERE execution_id = %(execution_id)s
   AND event_id > %(after)s
 ORDER BY event_id
 LIMIT %(limit)s;

-- name: claim_idempotency_key
-- The first request with this key claims it; a concurrent duplicate waits on the key's
-- index entry until the first commits, then finds it taken.
INSERT INTO noetl.idempotency (key, response, status_code, request_hash)
VALUES (%(key)s, '{}'::jsonb, 0, %(request_hash)s)
ON CONFLICT (key) DO NOTHING
RETURNING key;

-- name: save_idempotent_answer
-- The answer a retry with this key will get.
UPDATE noetl.idempotency
   SET response = %(response)s, status_code = %(status_code)s
 WHERE key = %(key)s;

-- name: find_idempotent_answer
-- The stored answer of an earlier request with this key.
SELECT response, status_code, request_hash FROM noetl.idempotency WHERE key = %(key)s;

-- name: database_health
-- The database answers and the schema is applied.
SELECT to_regclass('noetl.event') IS NOT NULL AS schema_ready;

-- name: list_execution_commands
-- One execution's commands (its rows of noetl.queue), oldest first.
SELECT queue_id, execution_id, step, tool_kind, status, attempt, max_attempts, priority,
       run_key, assigned_worker_id, created_at, updated_at, started_at, completed_at,
       available_at, lease_expires_at, last_error, tool_config, args
  FROM noetl.queue
 WHERE execution_id = %(execution_id)s
 ORDER BY queue_id;

-- name: queue_depth
-- Commands per status, and how long the oldest of each has waited (queue monitoring).
SELECT status, count(*) AS commands,
       extract(epoch FROM now() - min(created_at)::timestamptz)::float8 AS oldest_seconds
  FROM noetl.queue
 GROUP BY status
 ORDER BY status;
