-- name: database_health
-- The database answers and the schema is applied.
SELECT to_regclass('noetl.event') IS NOT NULL AS schema_ready;
