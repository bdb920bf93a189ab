-- name: lock_playbook_path
-- Serialise registrations of one path so versions are numbered without gaps or clashes.
SELECT pg_advisory_xact_lock(hashtext('noetl.playbook:' || %(path)s));

-- name: find_playbook_by_hash
-- An identical text registered before returns its existing version.
SELECT path, version, name FROM noetl.playbook
 WHERE path = %(path)s AND content_hash = %(content_hash)s;

-- name: insert_playbook_version
-- The next version number of the path.
INSERT INTO noetl.playbook (path, version, name, label, yaml, spec, content_hash)
SELECT %(path)s, COALESCE(max(version), 0) + 1, %(name)s, %(label)s, %(yaml)s, %(spec)s,
       %(content_hash)s
  FROM noetl.playbook WHERE path = %(path)s
RETURNING path, version, name;

-- name: get_playbook_version
-- One version of a playbook, or the latest when version is null.
SELECT path, version, name, label, yaml, spec, content_hash, created_at
  FROM noetl.playbook
 WHERE path = %(path)s AND (%(version)s::int IS NULL OR version = %(version)s::int)
 ORDER BY version DESC
 LIMIT 1;

-- name: list_playbooks
-- The latest version of every path.
SELECT DISTINCT ON (path) path, version, name, label, created_at
  FROM noetl.playbook
 ORDER BY path, version DESC;

-- name: playbook_registered
-- True when the playbook path (and the version, when one is given) is in the catalog.
SELECT EXISTS (SELECT 1 FROM noetl.playbook
                WHERE path = %(path)s
                  AND (%(version)s::int IS NULL OR version = %(version)s::int)) AS registered;
