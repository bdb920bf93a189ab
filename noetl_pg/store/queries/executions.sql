-- name: get_execution_state
-- The state users read (HTTP and get_state): the execution row, or, before an engine has
-- created it, the pending (or refused) workflow.start event that will create it. Its
-- warnings are every diagnostic the engine recorded (a `when` that raised, a note) and
-- every refused event, oldest first (state.py words each one).
SELECT execution_id, path, status, current_steps, step_results, context, result, error,
       COALESCE((
         SELECT jsonb_agg(w.warning ORDER BY w.event_id, w.n)
           FROM (SELECT e.event_id, d.n,
                        jsonb_build_object(
                          'event_id', e.event_id, 'event', e.event_type,
                          'step', COALESCE(d.item ->> 'step', e.node_name),
                          'kind', CASE WHEN d.item ? 'reason' THEN 'when' ELSE 'note' END,
                          'diagnostic', d.item) AS warning
                   FROM noetl.event e
                  CROSS JOIN LATERAL jsonb_array_elements(
                          CASE WHEN jsonb_typeof(e.diagnostic) = 'array'
                               THEN e.diagnostic ELSE '[]'::jsonb END)
                        WITH ORDINALITY AS d(item, n)
                  WHERE e.execution_id = %(execution_id)s AND e.diagnostic IS NOT NULL
                 UNION ALL
                 SELECT e.event_id, 0,
                        jsonb_build_object(
                          'event_id', e.event_id, 'event', e.event_type, 'step', e.node_name,
                          'kind', 'refused', 'diagnostic', jsonb_build_object('note', e.error))
                   FROM noetl.event e
                  WHERE e.execution_id = %(execution_id)s AND e.error IS NOT NULL
                    AND e.processed_at IS NOT NULL) AS w), '[]'::jsonb) AS warnings
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

-- name: execution_summary
-- One execution as `noetl-pg status` shows it: the row, its timings, its commands by status.
SELECT x.execution_id, x.path, x.version, x.status, x.active_steps AS current_steps,
       x.result, x.error, x.parent_execution_id,
       x.created_at, x.updated_at, x.finished_at,
       COALESCE((SELECT jsonb_object_agg(c.status, c.n)
                   FROM (SELECT q.status, count(*) AS n
                           FROM noetl.queue q
                          WHERE q.execution_id = x.execution_id
                          GROUP BY q.status) AS c), '{}'::jsonb) AS commands
  FROM noetl.execution x
 WHERE x.execution_id = %(execution_id)s;

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

-- name: list_execution_events
-- The event log of one execution in the order it is applied.
SELECT event_id, execution_id, event_type AS name, node_name AS step, status, payload,
       queue_id, created_at, processed_at, error, commands_generated, diagnostic
  FROM noetl.event
 WHERE execution_id = %(execution_id)s
   AND event_id > %(after)s
 ORDER BY event_id
 LIMIT %(limit)s;

-- name: list_execution_commands
-- One execution's commands (its rows of noetl.queue), oldest first. The queue's older
-- timestamps have no zone; read as the session's zone they were written in, they answer
-- with an offset like every other time of the API.
SELECT queue_id, execution_id, step, tool_kind, status, attempt, max_attempts, priority,
       run_key, assigned_worker_id, created_at::timestamptz AS created_at,
       updated_at::timestamptz AS updated_at, started_at::timestamptz AS started_at,
       completed_at::timestamptz AS completed_at,
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
