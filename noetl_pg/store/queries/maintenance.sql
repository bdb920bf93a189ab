-- name: remove_expired_executions
-- One bounded batch of retention: finished executions past their playbook's retention
-- (else the deployment's), with their events and commands. Never one whose parent or a
-- child still runs, and never one an engine is applying now (the engines' advisory lock).
WITH expired AS MATERIALIZED (
    SELECT x.execution_id
      FROM noetl.execution x
      LEFT JOIN noetl.playbook p ON p.path = x.path AND p.version = x.version
      LEFT JOIN noetl.execution parent ON parent.execution_id = x.parent_execution_id
     WHERE x.finished_at IS NOT NULL
       AND x.status IN ('completed', 'failed', 'cancelled')
       AND x.finished_at < now()
           - COALESCE((p.spec ->> 'retention')::interval, %(retention)s::interval)
       AND (parent.execution_id IS NULL OR parent.status NOT IN ('pending', 'queued', 'running'))
       AND NOT EXISTS (SELECT 1 FROM noetl.execution c
                        WHERE c.parent_execution_id = x.execution_id
                          AND c.status IN ('pending', 'queued', 'running'))
     ORDER BY x.finished_at
     LIMIT %(batch)s
), locked AS MATERIALIZED (
    SELECT execution_id FROM expired
     WHERE pg_try_advisory_xact_lock(7001, hashtext(execution_id))
), events AS (
    DELETE FROM noetl.event e USING locked l WHERE e.execution_id = l.execution_id
    RETURNING 1
), commands AS (
    DELETE FROM noetl.queue q USING locked l WHERE q.execution_id = l.execution_id
    RETURNING 1
), executions AS (
    DELETE FROM noetl.execution x USING locked l WHERE x.execution_id = l.execution_id
    RETURNING 1
)
SELECT (SELECT count(*) FROM executions)::int AS executions,
       (SELECT count(*) FROM events)::int AS events,
       (SELECT count(*) FROM commands)::int AS commands;

-- name: try_maintenance_lead
-- Become the maintenance leader (a session lock: held until this connection ends).
SELECT pg_try_advisory_lock(7003, 0) AS leader;

-- name: archive_executions
-- Finished executions that finished before a date, each with its events and commands,
-- oldest first (read through a server-side cursor: the answer may be large).
SELECT to_jsonb(x) AS execution,
       (SELECT coalesce(jsonb_agg(to_jsonb(e) ORDER BY e.event_id), '[]'::jsonb)
          FROM noetl.event e WHERE e.execution_id = x.execution_id) AS events,
       (SELECT coalesce(jsonb_agg(to_jsonb(q) ORDER BY q.queue_id), '[]'::jsonb)
          FROM noetl.queue q WHERE q.execution_id = x.execution_id) AS commands
  FROM noetl.execution x
 WHERE x.finished_at < %(before)s
   AND x.status IN ('completed', 'failed', 'cancelled')
 ORDER BY x.finished_at;

-- name: restore_execution
-- Put one archived execution back as it was (ids included); what is there already stays.
WITH execution AS (
    INSERT INTO noetl.execution
    SELECT * FROM jsonb_populate_record(NULL::noetl.execution, %(execution)s::jsonb)
    ON CONFLICT DO NOTHING
    RETURNING 1
), events AS (
    INSERT INTO noetl.event
    SELECT * FROM jsonb_populate_recordset(NULL::noetl.event, %(events)s::jsonb)
    ON CONFLICT DO NOTHING
    RETURNING 1
), commands AS (
    INSERT INTO noetl.queue
    SELECT * FROM jsonb_populate_recordset(NULL::noetl.queue, %(commands)s::jsonb)
    ON CONFLICT DO NOTHING
    RETURNING 1
)
SELECT (SELECT count(*) FROM execution)::int AS executions,
       (SELECT count(*) FROM events)::int AS events,
       (SELECT count(*) FROM commands)::int AS commands;

-- name: ensure_event_partitions
-- This week's and the next two weeks' partitions of noetl.event exist (created ahead of
-- need; an insert for a week without one lands in noetl.event_default meanwhile).
SELECT noetl.ensure_event_partitions(now(), now() + interval '14 days') AS created;

-- name: expired_event_partitions
-- Week partitions of noetl.event that ended before the deployment's retention, oldest first.
SELECT c.relname AS name
  FROM pg_inherits i
  JOIN pg_class c ON c.oid = i.inhrelid
 WHERE i.inhparent = 'noetl.event'::regclass
   AND c.relname ~ '^event_\d{8}$'
   AND noetl.event_partition_week(c.relname) + interval '7 days'
       <= now() - %(retention)s::interval
 ORDER BY c.relname;

-- name: drop_expired_event_partition
-- Drop one week of events whose every row is past retention (NULL: the week is kept).
SELECT noetl.drop_expired_event_partition(%(name)s, %(retention)s::interval) AS dropped;
