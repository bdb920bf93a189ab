-- name: claim_executions
-- Executions with unprocessed events, oldest first, that no other engine is applying now.
-- The advisory lock (held to the end of the transaction) is what makes one execution's
-- events apply one at a time however many engines run.
WITH recent AS MATERIALIZED (
    SELECT execution_id, event_id
      FROM noetl.event
     WHERE processed_at IS NULL
     ORDER BY event_id
     LIMIT %(scan)s
), candidates AS MATERIALIZED (
    SELECT execution_id, min(event_id) AS first_event
      FROM recent
     GROUP BY execution_id
     ORDER BY first_event
)
SELECT execution_id
  FROM candidates
 WHERE pg_try_advisory_xact_lock(7001, hashtext(execution_id))
 LIMIT %(batch)s;

-- name: load_unprocessed_events
-- The claimed executions' events to apply, in insertion order. `run_key` names the
-- command a call.done reports on: that of the queue row (of this execution) the event's
-- queue_id names; only an event that names no queue row may name it in its payload.
SELECT e.event_id, e.execution_id, e.event_type, e.node_name, e.payload,
       CASE WHEN e.queue_id IS NULL THEN e.payload ->> 'run_key' ELSE q.run_key END AS run_key
  FROM noetl.event e
  LEFT JOIN noetl.queue q ON q.queue_id = e.queue_id AND q.execution_id = e.execution_id
 WHERE e.execution_id = ANY(%(ids)s) AND e.processed_at IS NULL
 ORDER BY e.event_id
 LIMIT %(limit)s;

-- name: load_executions
-- The current state of the claimed executions.
SELECT execution_id, path, version, status, workload, context, step_results, state,
       result, error
  FROM noetl.execution
 WHERE execution_id = ANY(%(ids)s);

-- name: insert_commands
-- All commands of a batch in one statement (one NOTIFY on noetl_queue).
INSERT INTO noetl.queue (execution_id, step, tool_kind, tool_config, args, context, run_key,
                         max_attempts, priority, available_at, timeout_seconds, step_limit,
                         step_key)
SELECT r.execution_id, r.step, r.tool_kind, r.tool_config, r.args, r.context, r.run_key,
       r.max_attempts, r.priority,
       now() + make_interval(secs => r.delay_seconds), r.timeout_seconds, r.step_limit,
       r.step_key
  FROM jsonb_to_recordset(%(rows)s::jsonb) AS r(
        execution_id text, step text, tool_kind text, tool_config jsonb, args jsonb,
        context jsonb, run_key text, max_attempts int, priority int,
        delay_seconds float8, timeout_seconds float8, step_limit int, step_key text);

-- name: insert_engine_events
-- The engine's own events, already applied when written. A function scan yields the
-- array in order, so event ids follow the order the engine emitted them.
INSERT INTO noetl.event (execution_id, event_type, node_name, status, payload,
                         processed_at, processed_by)
SELECT r.execution_id, r.event_type, r.node_name, r.status, r.payload,
       clock_timestamp(), %(engine)s
  FROM jsonb_to_recordset(%(rows)s::jsonb) AS r(
        execution_id text, event_type text, node_name text, status text, payload jsonb);

-- name: save_executions
-- Insert new executions and update applied ones, all in one statement (an execution
-- failed by quarantine applied no event: its last_event_id stays).
INSERT INTO noetl.execution AS x (
    execution_id, path, version, status, workload, context, step_results, active_steps,
    state, result, error, parent_execution_id, parent_queue_id, last_event_id,
    events_applied, finished_at)
SELECT r.execution_id, r.path, r.version, r.status, r.workload, r.context, r.step_results,
       ARRAY(SELECT jsonb_array_elements_text(r.active_steps)), r.state, r.result, r.error,
       r.parent_execution_id, r.parent_queue_id, r.last_event_id, r.events_applied,
       CASE WHEN r.finished THEN clock_timestamp() END
  FROM jsonb_to_recordset(%(rows)s::jsonb) AS r(
        execution_id text, path text, version int, status text, workload jsonb,
        context jsonb, step_results jsonb, active_steps jsonb, state jsonb, result jsonb,
        error text, parent_execution_id text, parent_queue_id bigint, last_event_id bigint,
        events_applied int, finished boolean)
ON CONFLICT (execution_id) DO UPDATE SET
    status = EXCLUDED.status,
    context = EXCLUDED.context,
    step_results = EXCLUDED.step_results,
    active_steps = EXCLUDED.active_steps,
    state = EXCLUDED.state,
    result = EXCLUDED.result,
    error = EXCLUDED.error,
    last_event_id = COALESCE(EXCLUDED.last_event_id, x.last_event_id),
    events_applied = x.events_applied + EXCLUDED.events_applied,
    finished_at = COALESCE(x.finished_at, EXCLUDED.finished_at),
    updated_at = clock_timestamp();

-- name: mark_events_processed
-- Record that events were applied (or refused, with why), with the rule diagnostics.
UPDATE noetl.event AS e
   SET processed_at = clock_timestamp(),
       processed_by = %(engine)s,
       error = r.error,
       diagnostic = r.diagnostic,
       commands_generated = r.commands_generated,
       status = CASE WHEN r.error IS NOT NULL THEN 'rejected' ELSE COALESCE(e.status, 'applied') END
  FROM jsonb_to_recordset(%(rows)s::jsonb) AS r(
        event_id bigint, error text, diagnostic jsonb, commands_generated int)
 WHERE e.event_id = r.event_id;

-- name: cancel_pending_commands
-- A cancelled or failed execution hands out no more commands.
UPDATE noetl.queue
   SET status = 'cancelled', updated_at = now()
 WHERE execution_id = ANY(%(ids)s) AND status = 'pending';

-- name: report_to_parent
-- A child execution ended: finish the parent's waiting playbook command and append the
-- parent's call.done, in one statement (nothing happens if the parent no longer waits).
WITH finished AS (
    UPDATE noetl.queue
       SET status = %(queue_status)s, completed_at = now(), updated_at = now()
     WHERE queue_id = %(queue_id)s AND status = 'waiting'
    RETURNING queue_id, execution_id, step, run_key, attempt
)
INSERT INTO noetl.event (execution_id, event_type, node_name, status, payload, queue_id)
SELECT execution_id, 'call.done', step, CASE WHEN %(ok)s THEN 'ok' ELSE 'error' END,
       %(payload)s::jsonb || jsonb_build_object('run_key', run_key, 'attempt', attempt),
       queue_id
  FROM finished;

-- name: lock_execution
-- Claim one execution (when a batch had to be split to isolate a failing write).
SELECT pg_try_advisory_xact_lock(7001, hashtext(%(execution_id)s)) AS locked;

-- name: latest_playbook_versions
-- The newest version number of each path that a batch's workflow.start events name.
SELECT DISTINCT ON (path) path, version
  FROM noetl.playbook
 WHERE path = ANY(%(paths)s)
 ORDER BY path, version DESC;

-- name: cancel_children
-- Stopping an execution stops the sub-playbooks it started: each live child gets a
-- workflow.cancel (applied like any client's), and the parent's waiting commands end.
WITH waiting AS (
    UPDATE noetl.queue
       SET status = 'cancelled', updated_at = now()
     WHERE execution_id = ANY(%(ids)s) AND status = 'waiting'
)
INSERT INTO noetl.event (execution_id, event_type, payload)
SELECT execution_id, 'workflow.cancel',
       jsonb_build_object('reason', 'parent execution ' || parent_execution_id || ' stopped')
  FROM noetl.execution
 WHERE parent_execution_id = ANY(%(ids)s)
   AND status IN ('pending', 'queued', 'running');
