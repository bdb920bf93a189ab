-- name: database_health
-- The database answers and the schema is applied.
SELECT to_regclass('noetl.event') IS NOT NULL AS schema_ready;

-- name: noetl_tables
-- The tables of the noetl schema, by name (what `noetl-pg db upgrade` reports it built).
SELECT table_name FROM information_schema.tables
 WHERE table_schema = 'noetl'
 ORDER BY table_name;
