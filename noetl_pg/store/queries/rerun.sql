-- name: rerun_source
-- What a re-run carries over from a finished execution (DSL.md section 10).
SELECT execution_id, status, path, version, workload, context, step_results,
       state->'failures' AS failures
  FROM noetl.execution
 WHERE execution_id = %(execution_id)s;
