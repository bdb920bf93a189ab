-- name: cli_execution_summary
-- One execution as `noetl-pg status` shows it: the row, its timings, its commands by status.
SELECT x.execution_id, x.path, x.version, x.status, x.active_steps AS current_steps,
       x.result, x.error, x.parent_execution_id,
       x.created_at, x.updated_at, x.finished_at,
       COALESCE((SELECT jsonb_object_agg(c.status, c.n)
                   FROM (SELECT q.status, count(*) AS n
                           FROM noetl.queue q
                          WHERE q.execution_id = x.execution_id
                          GROUP BY q.status) AS c), '{}'::jsonb) AS commands
  FROM noetl.execution x
 WHERE x.execution_id = %(execution_id)s;
