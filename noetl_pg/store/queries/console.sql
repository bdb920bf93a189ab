-- name: executions_per_status
-- How many executions each status has (the console's counts and the metrics gauge).
SELECT status, count(*) AS executions
  FROM noetl.execution
 GROUP BY status
 ORDER BY status;

-- name: execution_workload
-- The workload an execution was started with (to start it again with the same).
SELECT x.path, x.version, x.workload
  FROM noetl.execution x
 WHERE x.execution_id = %(execution_id)s;

-- name: child_executions
-- The executions a step of this one started (sub-playbooks).
SELECT execution_id, path, status, created_at
  FROM noetl.execution
 WHERE parent_execution_id = %(execution_id)s
 ORDER BY created_at, execution_id;

-- name: workers_seen
-- Each worker that held a lease in the last hour: its open leases and heartbeat age.
SELECT assigned_worker_id AS worker_id,
       count(*) FILTER (WHERE status = 'leased') AS leases,
       extract(epoch FROM now() - max(heartbeat_at))::float8 AS heartbeat_age_seconds,
       extract(epoch FROM now() - max(updated_at)::timestamptz)::float8 AS last_seen_seconds
  FROM noetl.queue
 WHERE assigned_worker_id IS NOT NULL
   AND updated_at > (now() - interval '1 hour')::timestamp
 GROUP BY assigned_worker_id
 ORDER BY assigned_worker_id;

-- name: playbook_versions
-- Every stored version of every playbook, newest first within a path.
SELECT path, version, name, label, content_hash, created_at
  FROM noetl.playbook
 ORDER BY path, version DESC;

-- name: recent_activity
-- The last five minutes of the event log and queue, for the metrics gauges: how long events
-- waited to be applied, how many commands were generated, retried and failed, how many
-- `when` evaluations left a diagnostic, and how many events are still unapplied.
SELECT (SELECT count(*) FROM noetl.event WHERE processed_at IS NULL) AS events_unapplied,
       e.events_applied, e.apply_latency_avg, e.apply_latency_max, e.commands_generated,
       e.events_refused, e.diagnostics,
       q.commands_finished, q.commands_failed, q.commands_retried
  FROM (SELECT count(*) AS events_applied,
               COALESCE(avg(extract(epoch FROM processed_at - created_at)), 0)::float8
                   AS apply_latency_avg,
               COALESCE(max(extract(epoch FROM processed_at - created_at)), 0)::float8
                   AS apply_latency_max,
               COALESCE(sum(commands_generated), 0) AS commands_generated,
               count(*) FILTER (WHERE error IS NOT NULL) AS events_refused,
               count(*) FILTER (WHERE diagnostic IS NOT NULL) AS diagnostics
          FROM noetl.event
         WHERE processed_at > now() - interval '5 minutes') AS e,
       (SELECT count(*) FILTER (WHERE status IN ('done', 'failed')) AS commands_finished,
               count(*) FILTER (WHERE status = 'failed') AS commands_failed,
               count(*) FILTER (WHERE attempt > 1) AS commands_retried
          FROM noetl.queue
         WHERE updated_at > (now() - interval '5 minutes')::timestamp) AS q;

-- name: newest_unapplied_event
-- The newest event no engine has applied yet (the console waits for it before refreshing).
SELECT event_id, execution_id
  FROM noetl.event
 WHERE processed_at IS NULL
 ORDER BY event_id DESC
 LIMIT 1;
