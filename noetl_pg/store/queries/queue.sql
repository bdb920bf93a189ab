-- name: report_command
-- Fenced report: finish the command only if this worker still holds this lease (same
-- worker, same attempt, still leased) and, in the same statement, append its call.done.
-- No row back means the lease was lost and nothing was recorded.
WITH finished AS (
    UPDATE noetl.queue
       SET status = %(queue_status)s,
           completed_at = now(),
           updated_at = now(),
           lease_expires_at = NULL,
           last_error = %(last_error)s
     WHERE queue_id = %(queue_id)s
       AND status = 'leased'
       AND assigned_worker_id = %(worker_id)s
       AND attempt = %(attempt)s
    RETURNING queue_id, execution_id, step, run_key, attempt
)
INSERT INTO noetl.event (execution_id, event_type, node_name, status, payload, queue_id)
SELECT execution_id, 'call.done', step, %(event_status)s,
       %(payload)s::jsonb || jsonb_build_object(
           'run_key', run_key, 'attempt', attempt, 'worker_id', %(worker_id)s::text),
       queue_id
  FROM finished
RETURNING event_id, execution_id;
