-- name: park_wait
-- A `wait` command: park the queue row as 'waiting' (fenced by the lease) and record when
-- or on what it wakes, in one statement; a retried park finds the row already there.
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
    RETURNING queue_id, execution_id, step
)
INSERT INTO noetl.wait (queue_id, execution_id, step, signal_name, wake_at, seconds)
SELECT queue_id, execution_id, step, %(signal)s::text,
       COALESCE(%(until)s::timestamptz, now() + make_interval(secs => %(after)s::float8)),
       %(seconds)s::float8
  FROM parked
ON CONFLICT (queue_id) DO NOTHING
RETURNING queue_id;

-- name: wake_waits
-- Waits whose signal arrived (the oldest unconsumed `signal` of that name that was not
-- refused) or whose time passed: mark them woken, finish their parked command and append
-- its call.done, in one statement. A signal wins over a timeout that passed with it.
WITH signalled AS (
    SELECT DISTINCT ON (s.event_id) w.queue_id, s.event_id, s.payload
      FROM noetl.wait w
      CROSS JOIN LATERAL (
            SELECT e.event_id, e.payload
              FROM noetl.event e
             WHERE e.execution_id = w.execution_id
               AND e.event_type = %(signal_event)s::text
               AND e.error IS NULL
               AND e.payload->>'name' = w.signal_name
               AND NOT EXISTS (SELECT 1 FROM noetl.wait u WHERE u.signal_event_id = e.event_id)
             ORDER BY e.event_id
             LIMIT 1) s
     WHERE w.woken_at IS NULL AND w.signal_name IS NOT NULL
     ORDER BY s.event_id, w.queue_id
), due AS (
    SELECT w.queue_id, s.event_id, s.payload
      FROM noetl.wait w
      LEFT JOIN signalled s ON s.queue_id = w.queue_id
     WHERE w.woken_at IS NULL
       AND (s.queue_id IS NOT NULL OR w.wake_at <= now())
     ORDER BY w.queue_id
     LIMIT %(limit)s
       FOR UPDATE OF w SKIP LOCKED
), woken AS (
    UPDATE noetl.wait w
       SET woken_at = now(), signal_event_id = due.event_id
      FROM due
     WHERE w.queue_id = due.queue_id
    RETURNING w.queue_id, w.signal_name, w.seconds, w.created_at, due.event_id, due.payload
), finished AS (
    UPDATE noetl.queue q
       SET status = CASE WHEN k.signal_name IS NOT NULL AND k.event_id IS NULL
                         THEN %(failed)s::text ELSE %(done)s::text END,
           completed_at = now(), updated_at = now()
      FROM woken k
     WHERE q.queue_id = k.queue_id AND q.status = %(waiting)s::text
    RETURNING q.queue_id, q.execution_id, q.step, q.run_key, q.attempt, k.signal_name,
              k.seconds, k.created_at, k.event_id, k.payload
)
INSERT INTO noetl.event (execution_id, event_type, node_name, status, payload, queue_id)
SELECT f.execution_id, %(call_done)s::text, f.step,
       CASE WHEN f.signal_name IS NOT NULL AND f.event_id IS NULL THEN %(error)s::text ELSE %(ok)s::text END,
       CASE
           WHEN f.signal_name IS NULL
               THEN jsonb_build_object('response', jsonb_build_object(
                        'waited', COALESCE(f.seconds,
                                           extract(epoch FROM now() - f.created_at))))
           WHEN f.event_id IS NULL
               THEN jsonb_build_object('error', jsonb_build_object(
                        'kind', %(timeout)s::text,
                        'message', 'no signal ' || quote_literal(f.signal_name)
                                   || ' arrived before the wait timed out'))
           ELSE jsonb_build_object('response', f.payload)
       END || jsonb_build_object('run_key', f.run_key, 'attempt', f.attempt),
       f.queue_id
  FROM finished f
  JOIN noetl.execution e ON e.execution_id = f.execution_id
 WHERE e.status <> ALL(%(terminal)s::text[])
RETURNING event_id;
