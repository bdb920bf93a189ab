-- The event log, partitioned by week of created_at (docs/scaling.md "Partitioned history").
--
-- Retention then drops a whole week of events with one DROP TABLE instead of deleting its
-- rows, and the tables every insert and index probe touches stay the size of a week.
-- Weeks start on Monday, 00:00 UTC; partition `noetl.event_YYYYMMDD` holds the week that
-- starts that day. `noetl.event_default` takes any row no week exists for (an insert never
-- fails for want of a partition); the maintenance leader creates the coming weeks ahead of
-- time (`noetl.ensure_event_partitions`), moving rows of a new week out of the default.
--
-- Why created_at and not event_id: PostgreSQL routes a row to its partition before the
-- BEFORE ROW trigger runs, and refuses a trigger that changes the partition key. The
-- commit-order trigger (003) draws event_id after its lock, so event_id cannot be the key;
-- it no longer resets created_at either, except within the same week (below), so the key
-- it was routed by always still holds. The primary key becomes (event_id, created_at).
--
-- Converting a populated table: the rows are copied into the new weekly partitions (so
-- this runs while nothing else does, like every migration), the indexes and triggers the
-- old table had are recreated on the new one with their names, and the old table goes.
-- (A unique index on a partitioned table must contain the partition key: any unique
-- index on noetl.event, made before this migration or after, must include created_at.)

-- The week a timestamp falls in, as its first instant.
CREATE FUNCTION noetl.event_week(ts TIMESTAMPTZ) RETURNS TIMESTAMPTZ
    LANGUAGE sql IMMUTABLE PARALLEL SAFE
    RETURN date_trunc('week', ts AT TIME ZONE 'UTC') AT TIME ZONE 'UTC';

-- The week a partition's name says it holds (`event_YYYYMMDD`).
CREATE FUNCTION noetl.event_partition_week(name TEXT) RETURNS TIMESTAMPTZ
    LANGUAGE sql STABLE PARALLEL SAFE
    RETURN to_date(substr(name, 7), 'YYYYMMDD')::timestamp AT TIME ZONE 'UTC';

-- Create the partition of the week starting `week` if it is missing; true if created.
-- The table is built apart and attached (a SHARE UPDATE EXCLUSIVE lock on noetl.event,
-- which inserts and reads do not wait for); rows of that week in the default partition
-- move into it first, so the attach never finds the default holding a row of the week.
-- It waits at most a second for a lock (a long transaction reading noetl.event_default),
-- then gives up until the next pass: meanwhile that week's rows go to the default.
CREATE FUNCTION noetl.create_event_partition(week TIMESTAMPTZ) RETURNS BOOLEAN
    LANGUAGE plpgsql SET lock_timeout = '1s' AS $$
DECLARE
    name TEXT := 'event_' || to_char(week AT TIME ZONE 'UTC', 'YYYYMMDD');
BEGIN
    IF week <> noetl.event_week(week) THEN
        RAISE EXCEPTION 'create_event_partition: % is not the start of a week (Monday 00:00 UTC)', week;
    END IF;
    IF to_regclass('noetl.' || name) IS NOT NULL THEN
        RETURN false;
    END IF;
    EXECUTE format('CREATE TABLE noetl.%I (LIKE noetl.event INCLUDING DEFAULTS INCLUDING CONSTRAINTS)', name);
    EXECUTE format('ALTER TABLE noetl.%I ADD CONSTRAINT %I CHECK (created_at >= %L AND created_at < %L)',
                   name, name || '_week', week, week + interval '7 days');
    IF to_regclass('noetl.event_default') IS NOT NULL THEN
        -- the attach takes this lock anyway; taken first, no row of the week slips in
        LOCK TABLE noetl.event_default IN ACCESS EXCLUSIVE MODE;
        EXECUTE format('WITH moved AS (DELETE FROM noetl.event_default'
                       ' WHERE created_at >= %L AND created_at < %L RETURNING *)'
                       ' INSERT INTO noetl.%I SELECT * FROM moved',
                       week, week + interval '7 days', name);
    END IF;
    EXECUTE format('ALTER TABLE noetl.event ATTACH PARTITION noetl.%I FOR VALUES FROM (%L) TO (%L)',
                   name, week, week + interval '7 days');
    EXECUTE format('ALTER TABLE noetl.%I DROP CONSTRAINT %I', name, name || '_week');
    RETURN true;
EXCEPTION WHEN lock_not_available OR deadlock_detected THEN
    RETURN false;
END $$;

-- Every week from the one `from_ts` falls in to the one `to_ts` falls in has a partition;
-- returns how many were created now.
CREATE FUNCTION noetl.ensure_event_partitions(from_ts TIMESTAMPTZ, to_ts TIMESTAMPTZ)
    RETURNS INTEGER LANGUAGE plpgsql AS $$
DECLARE
    week TIMESTAMPTZ := noetl.event_week(from_ts);
    created INTEGER := 0;
BEGIN
    WHILE week <= to_ts LOOP
        IF noetl.create_event_partition(week) THEN
            created := created + 1;
        END IF;
        week := week + interval '7 days';
    END LOOP;
    RETURN created;
END $$;

-- The commit-order trigger of 003, but the row keeps the partition it was routed to:
-- created_at is moved to the instant the lock was had only when that is the same week.
CREATE OR REPLACE FUNCTION noetl.number_event() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    now_ts TIMESTAMPTZ;
BEGIN
    PERFORM pg_advisory_xact_lock(7002, hashtext(NEW.execution_id));
    NEW.event_id := nextval('noetl.event_event_id_seq');
    now_ts := clock_timestamp();
    IF noetl.event_week(now_ts) = noetl.event_week(NEW.created_at) AND now_ts > NEW.created_at THEN
        NEW.created_at := now_ts;
    END IF;
    RETURN NEW;
END $$;

-- Whether retention may remove an execution now: finished past its playbook's retention
-- (else `retention`), its parent not running, no child running. The same rule as the
-- batches of `remove_expired_executions` (store/queries/maintenance.sql).
CREATE FUNCTION noetl.execution_expired(id TEXT, retention INTERVAL) RETURNS BOOLEAN
    LANGUAGE sql STABLE AS $$
SELECT EXISTS (
    SELECT 1
      FROM noetl.execution x
      LEFT JOIN noetl.playbook p ON p.path = x.path AND p.version = x.version
      LEFT JOIN noetl.execution parent ON parent.execution_id = x.parent_execution_id
     WHERE x.execution_id = id
       AND x.status IN ('completed', 'failed', 'cancelled')
       AND x.finished_at < now() - COALESCE((p.spec ->> 'retention')::interval, retention)
       AND (parent.execution_id IS NULL OR parent.status NOT IN ('pending', 'running'))
       AND NOT EXISTS (SELECT 1 FROM noetl.execution c
                        WHERE c.parent_execution_id = x.execution_id
                          AND c.status IN ('pending', 'running')))
$$;

-- Drop the week partition `name` if every row in it may go: no event is unapplied, and
-- every execution with an event in it is expired (or gone). Returns the rows dropped, or
-- NULL when the week is kept (a row must stay, or noetl.event is busy: the DROP waits at
-- most a second for its lock, then the next pass tries again). Writes to the week wait
-- while it is checked, so no row can slip in between the check and the drop.
CREATE FUNCTION noetl.drop_expired_event_partition(name TEXT, retention INTERVAL)
    RETURNS BIGINT LANGUAGE plpgsql SET lock_timeout = '1s' AS $$
DECLARE
    week TIMESTAMPTZ := noetl.event_partition_week(name);
    blocked BOOLEAN;
    dropped BIGINT;
BEGIN
    IF name !~ '^event_\d{8}$' OR to_regclass('noetl.' || name) IS NULL THEN
        RAISE EXCEPTION 'drop_expired_event_partition: no week partition noetl.%', name;
    END IF;
    EXECUTE format('LOCK TABLE noetl.%I IN SHARE MODE', name);
    -- cheap first: an unapplied event, or a long-running execution started before the week ended
    EXECUTE format(
        'SELECT EXISTS (SELECT 1 FROM noetl.%1$I WHERE processed_at IS NULL)'
        ' OR EXISTS (SELECT 1 FROM noetl.execution x'
        '             WHERE x.status IN (''pending'', ''running'') AND x.created_at < %2$L'
        '               AND EXISTS (SELECT 1 FROM noetl.%1$I e WHERE e.execution_id = x.execution_id))',
        name, week + interval '7 days') INTO blocked;
    IF blocked THEN
        RETURN NULL;
    END IF;
    EXECUTE format(
        'SELECT EXISTS (SELECT 1 FROM (SELECT DISTINCT execution_id FROM noetl.%1$I) e'
        '                 JOIN noetl.execution x USING (execution_id)'
        '                WHERE NOT noetl.execution_expired(x.execution_id, %2$L)),'
        '       (SELECT count(*) FROM noetl.%1$I)',
        name, retention) INTO blocked, dropped;
    IF blocked THEN
        RETURN NULL;
    END IF;
    EXECUTE format('DROP TABLE noetl.%I', name);
    RETURN dropped;
EXCEPTION WHEN lock_not_available OR deadlock_detected THEN
    RETURN NULL;
END $$;

DO $$
DECLARE
    idx RECORD;
    trg RECORD;
    first_week TIMESTAMPTZ;
BEGIN
    ALTER TABLE noetl.event RENAME TO event_unpartitioned;
    CREATE TEMP TABLE event_indexes ON COMMIT DROP AS
        SELECT c.relname AS name, pg_get_indexdef(i.indexrelid) AS def
          FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid
         WHERE i.indrelid = 'noetl.event_unpartitioned'::regclass AND NOT i.indisprimary;
    CREATE TEMP TABLE event_triggers ON COMMIT DROP AS
        SELECT tgname AS name, pg_get_triggerdef(oid) AS def
          FROM pg_trigger
         WHERE tgrelid = 'noetl.event_unpartitioned'::regclass AND NOT tgisinternal;
    FOR idx IN SELECT * FROM event_indexes LOOP
        EXECUTE format('ALTER INDEX noetl.%I RENAME TO %I', idx.name, left(idx.name, 50) || '_unpartitioned');
    END LOOP;
    ALTER INDEX noetl.event_pkey RENAME TO event_unpartitioned_pkey;

    CREATE TABLE noetl.event (
        LIKE noetl.event_unpartitioned INCLUDING DEFAULTS INCLUDING CONSTRAINTS,
        PRIMARY KEY (event_id, created_at)
    ) PARTITION BY RANGE (created_at);
    ALTER SEQUENCE noetl.event_event_id_seq OWNED BY noetl.event.event_id;
    CREATE TABLE noetl.event_default PARTITION OF noetl.event DEFAULT;
    FOR idx IN SELECT * FROM event_indexes LOOP
        EXECUTE replace(idx.def, ' ON noetl.event_unpartitioned ', ' ON noetl.event ');
    END LOOP;

    -- the weeks the history spans, this one and the next two
    SELECT min(created_at) INTO first_week FROM noetl.event_unpartitioned;
    PERFORM noetl.ensure_event_partitions(LEAST(COALESCE(first_week, now()), now()),
                                          now() + interval '14 days');
    INSERT INTO noetl.event SELECT * FROM noetl.event_unpartitioned;

    FOR trg IN SELECT * FROM event_triggers LOOP
        EXECUTE replace(trg.def, ' ON noetl.event_unpartitioned ', ' ON noetl.event ');
    END LOOP;
    DROP TABLE noetl.event_unpartitioned;
END $$;
ANALYZE noetl.event;
