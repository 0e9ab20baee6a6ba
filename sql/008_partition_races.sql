-- Two writers (or processes) making the same day's partition at once: the second took the lock
-- after the first committed, yet `to_regclass` still said the partition was missing, since a
-- name looked up before the lock stays cached until the session next takes a relation lock,
-- and an advisory lock is none. Its CREATE TABLE then failed (duplicate_table) and stopped the
-- daemon. The statements themselves now settle it: a partition made meanwhile is no error
-- (duplicate_table, or unique_violation should the catalogue's own index be the one to see it).
CREATE OR REPLACE FUNCTION ensure_day_partition(parent text, day date) RETURNS boolean
LANGUAGE plpgsql AS $$
DECLARE
    child text := parent || '_' || to_char(day, 'YYYYMMDD');
BEGIN
    IF to_regclass(child) IS NOT NULL THEN
        RETURN false;
    END IF;
    PERFORM pg_advisory_xact_lock(hashtext('ensure_day_partition'));
    EXECUTE format(
        'CREATE TABLE %I PARTITION OF %I FOR VALUES FROM (%L) TO (%L)',
        child, parent,
        day::timestamp AT TIME ZONE 'UTC',
        (day + 1)::timestamp AT TIME ZONE 'UTC'
    );
    RETURN true;
EXCEPTION WHEN duplicate_table OR unique_violation THEN
    RETURN false;
END
$$;

CREATE OR REPLACE FUNCTION drop_day_partition(parent text, day date) RETURNS boolean
LANGUAGE plpgsql AS $$
DECLARE
    child text := parent || '_' || to_char(day, 'YYYYMMDD');
BEGIN
    PERFORM pg_advisory_xact_lock(hashtext('ensure_day_partition'));
    EXECUTE format('DROP TABLE %I', child);
    RETURN true;
EXCEPTION WHEN undefined_table THEN
    RETURN false;
END
$$;
