-- name: due_schedules
-- Schedules whose next tick has come (or is not computed yet), locked for this scan: two
-- engines never handle the same schedule at once. With the state of its last run, for
-- `overlap`; `db_now` is the clock ticks are compared with.
SELECT s.path, s.name, s.cron, s.every_seconds, s.timezone, s.workload, s.overlap,
       s.next_fire_at, s.last_execution_id, e.status AS last_status, now() AS db_now
  FROM noetl.schedule s
  LEFT JOIN noetl.execution e ON e.execution_id = s.last_execution_id
 WHERE NOT s.paused AND (s.next_fire_at IS NULL OR s.next_fire_at <= now())
 ORDER BY s.next_fire_at NULLS FIRST
 LIMIT %(limit)s
   FOR UPDATE OF s SKIP LOCKED;

-- name: fire_schedule_tick
-- Start the tick's execution (once: the id is the tick's) and move the schedule on.
WITH started AS (
    INSERT INTO noetl.event (execution_id, event_type, payload)
    SELECT %(execution_id)s::varchar, %(start_event)s::text, %(payload)s::jsonb
     WHERE NOT EXISTS (SELECT 1 FROM noetl.event
                        WHERE execution_id = %(execution_id)s::varchar
                          AND event_type = %(start_event)s::text)
    RETURNING event_id
)
UPDATE noetl.schedule
   SET next_fire_at = %(next_fire_at)s, last_fired_at = %(tick)s,
       last_execution_id = %(execution_id)s,
       fires = fires + (SELECT count(*) FROM started)
 WHERE path = %(path)s AND name = %(name)s;

-- name: move_schedule
-- The next tick of a schedule (computed, or after a tick skipped for `overlap: skip`).
UPDATE noetl.schedule
   SET next_fire_at = %(next_fire_at)s, skipped = skipped + %(skipped)s
 WHERE path = %(path)s AND name = %(name)s;

-- name: list_schedules
SELECT path, name, version, cron, every_seconds, timezone, overlap, paused, next_fire_at,
       last_fired_at, last_execution_id, fires, skipped
  FROM noetl.schedule
 WHERE %(path)s::text IS NULL OR path = %(path)s
 ORDER BY path, name;

-- name: set_schedules_paused
-- Pause or resume; a resumed schedule's next tick is computed again from now, so the
-- ticks of the pause do not fire.
UPDATE noetl.schedule
   SET paused = %(paused)s,
       next_fire_at = CASE WHEN %(paused)s THEN next_fire_at END
 WHERE path = %(path)s AND (%(name)s::text IS NULL OR name = %(name)s)
RETURNING path, name, paused;

-- name: next_due_in
-- Seconds until the earliest deadline, timer or schedule tick (NULL: none), so an idle
-- engine wakes for it instead of at its next safety scan. Only future rows: what is due
-- now was just scanned (a tick held for `overlap: queue` waits for its run, not a clock).
SELECT extract(epoch FROM least(
           (SELECT min(fires_at) FROM noetl.deadline WHERE fires_at > now()),
           (SELECT min(wake_at) FROM noetl.wait WHERE woken_at IS NULL AND wake_at > now()),
           (SELECT min(next_fire_at) FROM noetl.schedule
             WHERE NOT paused AND next_fire_at > now())
       ) - now())::float8 AS seconds;
