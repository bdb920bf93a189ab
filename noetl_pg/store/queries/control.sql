-- name: lock_execution_id
-- Serialise the checks-then-insert of client events on one execution id (a start that
-- must not exist yet, a cancel that needs the execution to exist).
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
