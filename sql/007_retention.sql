-- Drop the day partition of a cold table that holds `day` (UTC), if it exists: retention
-- (daemon/maintenance.py). Under the lock that `ensure_day_partition` takes, so that several
-- processes pruning at once, or one creating a partition for late data meanwhile, never race.
CREATE FUNCTION drop_day_partition(parent text, day date) RETURNS boolean
LANGUAGE plpgsql AS $$
DECLARE
    child text := parent || '_' || to_char(day, 'YYYYMMDD');
BEGIN
    PERFORM pg_advisory_xact_lock(hashtext('ensure_day_partition'));
    IF to_regclass(child) IS NULL THEN
        RETURN false;
    END IF;
    EXECUTE format('DROP TABLE %I', child);
    RETURN true;
END
$$;
