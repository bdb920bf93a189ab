-- Number each execution's events in commit order.
--
-- event_id used to come from the sequence when a row was inserted. Two transactions that
-- insert events of one execution at once (two workers reporting two loop iterations)
-- could commit in the other order, and the engine, which only sees committed rows, would
-- apply the higher-numbered event first: applied order and event_id order disagreed.
--
-- Now an insert first takes a transaction-scoped advisory lock on its execution and only
-- then draws its event_id and created_at. A second transaction inserting for the same
-- execution waits until the first commits or aborts, so within one execution a visible
-- event never has an invisible predecessor: event_id order is commit order, for every
-- writer, raw SQL included. Executions never wait on each other.
CREATE FUNCTION noetl.number_event() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_advisory_xact_lock(7002, hashtext(NEW.execution_id));
    NEW.event_id := nextval(pg_get_serial_sequence('noetl.event', 'event_id'));
    NEW.created_at := clock_timestamp();
    RETURN NEW;
END $$;

CREATE TRIGGER event_number BEFORE INSERT ON noetl.event
    FOR EACH ROW EXECUTE FUNCTION noetl.number_event();
