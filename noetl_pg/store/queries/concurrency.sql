-- name: set_queued
-- Executions created `queued` in this transaction: their key, limit and place in line.
UPDATE noetl.execution x
   SET concurrency_key = r.key, concurrency_limit = r.lim, queued_seq = r.seq
  FROM jsonb_to_recordset(%(rows)s::jsonb) AS r(execution_id text, key text, lim int, seq bigint)
 WHERE x.execution_id = r.execution_id;

-- name: lock_concurrency_keys
-- Take the admission lock of each key (of these executions, or named), in one order, so
-- two transactions admitting for a key do it one after the other and the second counts
-- what the first admitted. Its own statement: the next one's snapshot sees the first's.
SELECT pg_advisory_xact_lock(7004, k.h)
  FROM (SELECT DISTINCT hashtext(key) AS h
          FROM (SELECT concurrency_key AS key FROM noetl.execution
                 WHERE execution_id = ANY(%(ids)s) AND concurrency_key IS NOT NULL
                UNION SELECT unnest(%(keys)s::text[])) named
         ORDER BY 1) k;

-- name: admit_queued
-- Admit the oldest queued executions of each key while it has free slots (limit minus
-- the admitted ones still live): mark them admitted and append their `workflow.admit`
-- (payload: their start's). An execution another transaction is applying now is left
-- for the next admission (the maintenance scan retries every key that has a free slot).
WITH keys AS (
    SELECT concurrency_key AS key FROM noetl.execution
     WHERE execution_id = ANY(%(ids)s) AND concurrency_key IS NOT NULL
    UNION SELECT unnest(%(keys)s::text[])
), free AS (
    SELECT k.key,
           (SELECT x.concurrency_limit FROM noetl.execution x
             WHERE x.concurrency_key = k.key AND x.finished_at IS NULL
             ORDER BY x.queued_seq DESC LIMIT 1)
         - (SELECT count(*) FROM noetl.execution x
             WHERE x.concurrency_key = k.key AND x.finished_at IS NULL
               AND x.admitted_at IS NOT NULL) AS slots
      FROM keys k
), chosen AS (
    SELECT c.execution_id
      FROM free f
     CROSS JOIN LATERAL (
           SELECT x.execution_id
             FROM noetl.execution x
            WHERE x.concurrency_key = f.key AND x.finished_at IS NULL
              AND CASE WHEN x.admitted_at IS NULL AND x.status = %(queued)s::text
                       THEN pg_try_advisory_xact_lock(7001, hashtext(x.execution_id))
                       ELSE false END
            ORDER BY x.queued_seq
            LIMIT greatest(coalesce(f.slots, 0), 0)
              FOR UPDATE SKIP LOCKED) c
), admitted AS (
    UPDATE noetl.execution x
       SET admitted_at = clock_timestamp()
      FROM chosen c
     WHERE x.execution_id = c.execution_id
    RETURNING x.execution_id, x.queued_seq
)
INSERT INTO noetl.event (execution_id, event_type, payload)
SELECT a.execution_id, %(admit_event)s::text, s.payload
  FROM admitted a
  JOIN noetl.event s ON s.event_id = a.queued_seq
 ORDER BY a.queued_seq
RETURNING execution_id;

-- name: keys_with_queued
-- Keys with a queued execution not admitted yet (the maintenance scan's catch-up).
SELECT DISTINCT concurrency_key AS key
  FROM noetl.execution
 WHERE concurrency_key IS NOT NULL AND finished_at IS NULL AND admitted_at IS NULL
 LIMIT %(limit)s;
