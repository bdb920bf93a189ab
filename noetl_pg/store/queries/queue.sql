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
    RETURNING queue_id, execution_id, step, run_key, attempt, status
)
INSERT INTO noetl.event (execution_id, event_type, node_name, status, payload, queue_id)
SELECT execution_id, 'call.done', step,
       CASE status WHEN 'done' THEN 'ok' ELSE 'error' END,
       %(payload)s::jsonb || jsonb_build_object(
           'run_key', run_key, 'attempt', attempt, 'worker_id', %(worker_id)s::text),
       queue_id
  FROM finished
RETURNING event_id, execution_id;

-- name: lease_commands
-- Lease up to n ready commands (priority, then age), skipping rows other workers hold.
-- A command of a step with `concurrency` is taken only while fewer than its limit of
-- that step's commands are leased, and only under the step's lock (7005, held to the
-- end of this statement's transaction; a step another worker is leasing for now is
-- skipped); then `lock_step_keys` + `enforce_step_limits`, in a transaction of their
-- own, give back what this statement took past the limit (its snapshot may predate
-- another worker's lease).
WITH candidate AS (
    SELECT queue_id
      FROM noetl.queue q
     WHERE status = 'pending'
       AND available_at <= now()
       AND CASE WHEN q.step_limit IS NULL THEN true
                WHEN (SELECT count(*) FROM noetl.queue l
                       WHERE l.status = 'leased' AND l.step_key = q.step_key) >= q.step_limit
                THEN false
                ELSE pg_try_advisory_xact_lock(7005, hashtext(q.step_key)) END
     ORDER BY priority DESC, created_at, queue_id
     LIMIT %(n)s
       FOR UPDATE SKIP LOCKED
)
UPDATE noetl.queue q
   SET status = 'leased',
       assigned_worker_id = %(worker_id)s,
       started_at = now(),
       updated_at = now(),
       lease_expires_at = now() + make_interval(secs => %(lease_seconds)s),
       heartbeat_at = now()
  FROM candidate c
 WHERE q.queue_id = c.queue_id
RETURNING q.*;

-- name: lock_step_keys
-- The step locks `lease_commands` tries, taken and waited for, in one order (no deadlock).
SELECT pg_advisory_xact_lock(7005, hashtext(k)) FROM unnest(%(keys)s::text[]) AS k ORDER BY k;

-- name: enforce_step_limits
-- After `lease_commands`, holding the locks of the limited steps it leased from (a
-- statement after `lock_step_keys`, so its snapshot sees every other worker's committed
-- leases). Of these leases, those past their
-- step's limit (other workers' leases count first) are made pending again, same attempt.
WITH mine AS (
    SELECT DISTINCT step_key, step_limit
      FROM noetl.queue
     WHERE queue_id = ANY(%(queue_ids)s) AND step_limit IS NOT NULL
), ranked AS (
    SELECT l.queue_id, m.step_limit,
           row_number() OVER (PARTITION BY l.step_key
                              ORDER BY l.queue_id = ANY(%(queue_ids)s), l.queue_id) AS place
      FROM noetl.queue l
      JOIN mine m ON m.step_key = l.step_key
     WHERE l.status = 'leased'
)
UPDATE noetl.queue q
   SET status = 'pending', assigned_worker_id = NULL, lease_expires_at = NULL,
       heartbeat_at = NULL, started_at = NULL, updated_at = now()
  FROM ranked r
 WHERE q.queue_id = r.queue_id AND q.queue_id = ANY(%(queue_ids)s) AND r.place > r.step_limit
RETURNING q.queue_id;

-- name: next_available_delay
-- Seconds until the earliest pending command becomes available (NULL when none is pending).
SELECT greatest(0, extract(epoch FROM min(available_at) - now()))::float8 AS delay
  FROM noetl.queue
 WHERE status = 'pending'
HAVING count(*) > 0;

-- name: heartbeat_leases
-- Extend every given lease still held, fenced on worker and attempt; returns the
-- queue_ids extended (a lease missing from the answer was lost).
UPDATE noetl.queue q
   SET lease_expires_at = now() + make_interval(secs => %(lease_seconds)s),
       heartbeat_at = now()
  FROM unnest(%(queue_ids)s::bigint[], %(worker_ids)s::text[], %(attempts)s::integer[])
       AS held(queue_id, worker_id, attempt)
 WHERE q.queue_id = held.queue_id
   AND q.attempt = held.attempt
   AND q.assigned_worker_id = held.worker_id
   AND q.status = 'leased'
RETURNING q.queue_id;

-- name: release_leases
-- Give back leases still held (graceful stop): pending again, same attempt.
UPDATE noetl.queue q
   SET status = 'pending',
       assigned_worker_id = NULL,
       lease_expires_at = NULL,
       heartbeat_at = NULL,
       started_at = NULL,
       updated_at = now()
  FROM unnest(%(queue_ids)s::bigint[], %(worker_ids)s::text[], %(attempts)s::integer[])
       AS held(queue_id, worker_id, attempt)
 WHERE q.queue_id = held.queue_id
   AND q.attempt = held.attempt
   AND q.assigned_worker_id = held.worker_id
   AND q.status = 'leased'
RETURNING q.queue_id;

-- name: reclaim_expired_leases
-- Take back expired leases: retry (attempt + 1) while attempts remain, else fail the
-- command and append its call.done with error kind lease_expired, in this one statement.
WITH expired AS (
    SELECT queue_id
      FROM noetl.queue
     WHERE status = 'leased'
       AND lease_expires_at < now()
       FOR UPDATE SKIP LOCKED
), retried AS (
    UPDATE noetl.queue q
       SET status = 'pending',
           attempt = q.attempt + 1,
           assigned_worker_id = NULL,
           lease_expires_at = NULL,
           heartbeat_at = NULL,
           started_at = NULL,
           updated_at = now(),
           last_error = 'lease of worker ' || coalesce(q.assigned_worker_id, '?')
                        || ' expired (attempt ' || q.attempt || ' of ' || q.max_attempts || ')'
      FROM expired e
     WHERE q.queue_id = e.queue_id
       AND q.attempt < q.max_attempts
    RETURNING q.queue_id
), exhausted AS (
    UPDATE noetl.queue q
       SET status = 'failed',
           completed_at = now(),
           updated_at = now(),
           lease_expires_at = NULL,
           last_error = 'lease of worker ' || coalesce(q.assigned_worker_id, '?')
                        || ' expired on the last attempt (' || q.attempt || ' of '
                        || q.max_attempts || ')'
      FROM expired e
     WHERE q.queue_id = e.queue_id
       AND q.attempt >= q.max_attempts
    RETURNING q.queue_id, q.execution_id, q.step, q.run_key, q.attempt,
              q.assigned_worker_id, q.last_error
), reported AS (
    INSERT INTO noetl.event (execution_id, event_type, node_name, status, payload, queue_id)
    SELECT execution_id, 'call.done', step, 'error',
           jsonb_build_object(
               'error', jsonb_build_object('kind', 'lease_expired', 'message', last_error),
               'run_key', run_key, 'attempt', attempt, 'worker_id', assigned_worker_id),
           queue_id
      FROM exhausted
    RETURNING queue_id
)
SELECT (SELECT count(*) FROM retried)::int AS retried,
       (SELECT count(*) FROM reported)::int AS failed;

-- name: start_child_playbook
-- A `playbook` command: park the queue row as 'waiting' (fenced) and, in the same
-- statement, append the child's workflow.start unless that child was already started.
WITH parked AS (
    UPDATE noetl.queue
       SET status = 'waiting',
           lease_expires_at = NULL,
           heartbeat_at = now(),
           updated_at = now()
     WHERE queue_id = %(queue_id)s
       AND status = 'leased'
       AND assigned_worker_id = %(worker_id)s
       AND attempt = %(attempt)s
    RETURNING queue_id
), started AS (
    INSERT INTO noetl.event (execution_id, event_type, node_name, payload)
    SELECT %(child_execution_id)s::varchar, 'workflow.start', NULL, %(payload)s::jsonb
      FROM parked
     WHERE NOT EXISTS (
           SELECT 1 FROM noetl.event
            WHERE execution_id = %(child_execution_id)s::varchar
              AND event_type = 'workflow.start')
    RETURNING event_id
)
SELECT p.queue_id, (SELECT event_id FROM started) AS event_id
  FROM parked p;
