-- What a replaced reading held, on PostgreSQL before 18.
--
-- A flush that replaces stored readings appends what they held to the pending changes, with
-- sign -1 (sql/010), so that the rollups add new minus old. PostgreSQL 18 hands a flush those
-- values itself (RETURNING old). Before 18 a row trigger does: a BEFORE UPDATE trigger fires
-- for each row that INSERT ... ON CONFLICT DO UPDATE replaces, after the row is locked, with
-- OLD the very version being replaced, whatever other writers committed meanwhile. So the -1
-- changes are exact under concurrency, as RETURNING old is, and commit in the flush's own
-- transaction. Replacements are rare (retries, replays), and the trigger costs only them: an
-- insert fires no UPDATE trigger. The trigger also counts the flush's replacements in a
-- transaction-local setting, for the flush's answer (how many readings it added).
--
-- Which way a database takes follows its server: keep_replacements_in_step() attaches the
-- triggers below 18 and detaches them from 18 on (say after pg_upgrade), at every start.

CREATE FUNCTION replaced_count(kind text) RETURNS integer
-- Volatile, so that a flush reads it where it stands in the statement: after its upsert ran.
LANGUAGE sql VOLATILE AS $$
SELECT coalesce(nullif(current_setting('ingest.replaced_' || kind, true), ''), '0')::integer
$$;

CREATE FUNCTION count_replaced(kind text) RETURNS void
LANGUAGE sql AS $$
SELECT set_config('ingest.replaced_' || kind, (replaced_count(kind) + 1)::text, true)
$$;

CREATE FUNCTION meter_reading_replaced() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO meter_pending
    VALUES (ARRAY[OLD.meter_id], ARRAY[OLD.ts], ARRAY[OLD.kwh_consumed_ac], -1);
    PERFORM count_replaced('meter');
    RETURN NEW;
END
$$;

CREATE FUNCTION vehicle_reading_replaced() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO vehicle_pending
    VALUES (ARRAY[OLD.vehicle_id], ARRAY[OLD.ts], ARRAY[OLD.kwh_delivered_dc],
            ARRAY[OLD.battery_temp], -1);
    PERFORM count_replaced('vehicle');
    RETURN NEW;
END
$$;

-- Whether replacements go through the triggers here: true below PostgreSQL 18. Changes the
-- triggers only when they are not as the server needs, so that a start takes no table lock.
CREATE FUNCTION keep_replacements_in_step() RETURNS boolean
LANGUAGE plpgsql AS $$
DECLARE
    wanted boolean := current_setting('server_version_num')::integer < 180000;
    attached boolean := EXISTS (
        SELECT FROM pg_trigger
        WHERE tgname = 'meter_reading_replaced' AND tgrelid = 'meter_readings'::regclass
    );
BEGIN
    IF wanted AND NOT attached THEN
        CREATE TRIGGER meter_reading_replaced BEFORE UPDATE ON meter_readings
        FOR EACH ROW EXECUTE FUNCTION meter_reading_replaced();
        CREATE TRIGGER vehicle_reading_replaced BEFORE UPDATE ON vehicle_readings
        FOR EACH ROW EXECUTE FUNCTION vehicle_reading_replaced();
    ELSIF attached AND NOT wanted THEN
        DROP TRIGGER meter_reading_replaced ON meter_readings;
        DROP TRIGGER vehicle_reading_replaced ON vehicle_readings;
    END IF;
    RETURN wanted;
END
$$;

SELECT keep_replacements_in_step();
