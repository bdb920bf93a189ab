-- name: drain_status
-- Whether the deployment is draining, since when and by whom, and what still runs.
SELECT c.draining, c.changed_at, c.changed_by,
       (SELECT count(*) FROM noetl.execution
         WHERE status IN ('pending', 'queued', 'running'))::int AS unfinished
  FROM noetl.control c;

-- name: set_draining
-- Turn drain on or off (the change is recorded with who asked).
UPDATE noetl.control
   SET draining = %(draining)s, changed_at = now(), changed_by = %(by)s
RETURNING draining;

-- name: is_draining
SELECT draining FROM noetl.control;
