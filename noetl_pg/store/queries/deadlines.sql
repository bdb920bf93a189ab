-- name: insert_deadlines
-- Deadlines of executions started and step runs entered in this transaction.
INSERT INTO noetl.deadline (execution_id, step, run_id, seconds, fires_at)
SELECT r.execution_id, r.step, r.run_id, r.seconds,
       now() + make_interval(secs => r.seconds)
  FROM jsonb_to_recordset(%(rows)s::jsonb)
       AS r(execution_id TEXT, step TEXT, run_id TEXT, seconds DOUBLE PRECISION);

-- name: fire_due_deadlines
-- Passed deadlines become unprocessed `timeout` events (the engine applies them like any
-- event) and are removed in the same statement; those of finished executions are only
-- removed. SKIP LOCKED: two engines scanning at once fire each deadline once.
WITH due AS (
    SELECT deadline_id
      FROM noetl.deadline
     WHERE fires_at <= now()
     ORDER BY fires_at
     LIMIT %(limit)s
       FOR UPDATE SKIP LOCKED
), gone AS (
    DELETE FROM noetl.deadline d
     USING due
     WHERE d.deadline_id = due.deadline_id
    RETURNING d.*
)
INSERT INTO noetl.event (execution_id, event_type, node_name, payload)
SELECT g.execution_id, %(event)s, g.step,
       jsonb_build_object('run', g.run_id, 'seconds', g.seconds, 'deadline', g.fires_at)
  FROM gone g
  JOIN noetl.execution e ON e.execution_id = g.execution_id
 WHERE e.status <> ALL(%(terminal)s)
 ORDER BY g.fires_at
RETURNING event_id;

-- name: cancel_timed_out_commands
-- A step timeout ended its run: its commands still pending are cancelled (never leased),
-- and a parked `wait` of it is cancelled with its wait row closed (it consumes no signal).
WITH cancelled AS (
    UPDATE noetl.queue q
       SET status = 'cancelled', updated_at = now()
      FROM jsonb_to_recordset(%(rows)s::jsonb) AS r(execution_id text, run_key text)
     WHERE q.execution_id = r.execution_id AND q.run_key = r.run_key
       AND q.status IN ('pending', 'waiting')
    RETURNING q.queue_id
)
UPDATE noetl.wait w
   SET woken_at = now()
  FROM cancelled c
 WHERE w.queue_id = c.queue_id AND w.woken_at IS NULL;
