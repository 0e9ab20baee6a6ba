-- Pending rollup changes as the flushes' own arrays, converted when folded.
--
-- Until now a flush turned each reading it stored into a delta (numeric new minus old, and its
-- UTC hour) and appended one row per reading to *_hourly_pending, which the fold then deleted
-- row by row. Per reading that was a converted value or two (float8 to numeric costs about a
-- microsecond each), a date_trunc by time-zone name and a row written and deleted again. Now a
-- flush appends the arrays it was sent, as they are, as one row of sign +1 (each reading adds
-- its values and one reading), and, only when it replaced stored readings, one more row of
-- sign -1 holding what they replaced (RETURNING old): a replacement adds new minus old and no
-- reading, exactly as before. The fold unnests, converts and groups; the sums it writes are
-- the same numbers, since numeric addition does not depend on its order. The arrays are stored
-- out of line without compression: they are written once and read once.

-- What the old tables hold is folded by the old fold, and they go. Stop daemons of an earlier
-- version before starting this one: their flushes write to the tables dropped here.
SELECT fold_rollups(true);
DROP TABLE meter_hourly_pending, vehicle_hourly_pending;

-- The UTC hour of an instant: date_trunc('hour', ts, 'UTC') without the time zone's lookup
-- (a fifteenth of its cost); the same value for every timestamptz.
CREATE FUNCTION utc_hour(ts timestamptz) RETURNS timestamptz
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
SELECT date_bin('1 hour', ts, timestamptz '2000-01-01 00:00:00+00')
$$;

CREATE TABLE meter_pending (
    meter_ids       text[]        NOT NULL,
    ts              timestamptz[] NOT NULL,
    kwh_consumed_ac float8[]      NOT NULL,
    sign            smallint      NOT NULL CHECK (sign IN (1, -1))
) WITH (autovacuum_vacuum_scale_factor = 0, autovacuum_vacuum_threshold = 1000);
ALTER TABLE meter_pending
    ALTER meter_ids SET STORAGE EXTERNAL,
    ALTER ts SET STORAGE EXTERNAL,
    ALTER kwh_consumed_ac SET STORAGE EXTERNAL;

CREATE TABLE vehicle_pending (
    vehicle_ids      text[]        NOT NULL,
    ts               timestamptz[] NOT NULL,
    kwh_delivered_dc float8[]      NOT NULL,
    battery_temp     float8[]      NOT NULL,
    sign             smallint      NOT NULL CHECK (sign IN (1, -1))
) WITH (autovacuum_vacuum_scale_factor = 0, autovacuum_vacuum_threshold = 1000);
ALTER TABLE vehicle_pending
    ALTER vehicle_ids SET STORAGE EXTERNAL,
    ALTER ts SET STORAGE EXTERNAL,
    ALTER kwh_delivered_dc SET STORAGE EXTERNAL,
    ALTER battery_temp SET STORAGE EXTERNAL;

-- A pending row's changes, one per reading, in the rollups' terms (numeric, as sql/005 sums).
CREATE FUNCTION meter_changes(
    meter_ids text[], ts timestamptz[], kwh_consumed_ac float8[], sign smallint
) RETURNS TABLE (meter_id text, hour timestamptz, ac_kwh numeric, readings integer)
LANGUAGE sql IMMUTABLE AS $$
SELECT u.meter_id, utc_hour(u.ts), sign * u.kwh::numeric, sign::integer
FROM unnest(meter_ids, ts, kwh_consumed_ac) AS u (meter_id, ts, kwh)
$$;

CREATE FUNCTION vehicle_changes(
    vehicle_ids text[], ts timestamptz[], kwh_delivered_dc float8[], battery_temp float8[],
    sign smallint
) RETURNS TABLE (
    vehicle_id text, hour timestamptz, dc_kwh numeric, temp_sum numeric, readings integer
)
LANGUAGE sql IMMUTABLE AS $$
SELECT u.vehicle_id, utc_hour(u.ts), sign * u.kwh::numeric, sign * u.temp::numeric,
       sign::integer
FROM unnest(vehicle_ids, ts, kwh_delivered_dc, battery_temp) AS u (vehicle_id, ts, kwh, temp)
$$;

-- The changes not folded yet, a row each, for whoever inspects them.
CREATE VIEW meter_pending_changes AS
SELECT c.* FROM meter_pending AS p
CROSS JOIN LATERAL meter_changes(p.meter_ids, p.ts, p.kwh_consumed_ac, p.sign) AS c;

CREATE VIEW vehicle_pending_changes AS
SELECT c.* FROM vehicle_pending AS p
CROSS JOIN LATERAL vehicle_changes(
    p.vehicle_ids, p.ts, p.kwh_delivered_dc, p.battery_temp, p.sign
) AS c;

-- As in sql/009, taking the new tables. A fold sorts and groups every change it takes, so it
-- gets the memory to do that without spilling to disk; one fold runs at a time.
CREATE OR REPLACE FUNCTION fold_rollups(wait boolean) RETURNS bigint
LANGUAGE plpgsql SET work_mem = '64MB' AS $$
DECLARE
    taken bigint;
    vehicles text[];
    meters text[];
    dc_added numeric;
    ac_added numeric;
BEGIN
    IF NOT EXISTS (SELECT FROM meter_pending) AND NOT EXISTS (SELECT FROM vehicle_pending) THEN
        RETURN 0;
    END IF;
    IF wait THEN
        PERFORM pg_advisory_xact_lock(hashtext('fold_rollups'));
    ELSIF NOT pg_try_advisory_xact_lock(hashtext('fold_rollups')) THEN
        RETURN 0;
    END IF;

    WITH fleet AS (SELECT start FROM fleet_window FOR KEY SHARE),
    meter_rows AS (DELETE FROM meter_pending RETURNING *),
    meter_taken AS MATERIALIZED (
        SELECT c.* FROM meter_rows AS p
        CROSS JOIN LATERAL meter_changes(p.meter_ids, p.ts, p.kwh_consumed_ac, p.sign) AS c
    ),
    meter_hours AS (
        INSERT INTO meter_hourly AS t (meter_id, hour, ac_kwh, readings)
        SELECT meter_id, hour, sum(ac_kwh), sum(readings) FROM meter_taken
        GROUP BY meter_id, hour ORDER BY meter_id, hour
        ON CONFLICT (meter_id, hour) DO UPDATE
        SET ac_kwh = t.ac_kwh + EXCLUDED.ac_kwh, readings = t.readings + EXCLUDED.readings
    ),
    meter_days AS (
        INSERT INTO meter_window AS t (meter_id, ac_kwh, readings)
        SELECT meter_id, sum(ac_kwh), sum(readings) FROM meter_taken, fleet
        WHERE hour >= fleet.start AND hour < fleet.start + interval '24 hours'
        GROUP BY meter_id ORDER BY meter_id
        ON CONFLICT (meter_id) DO UPDATE
        SET ac_kwh = t.ac_kwh + EXCLUDED.ac_kwh, readings = t.readings + EXCLUDED.readings
    ),
    vehicle_rows AS (DELETE FROM vehicle_pending RETURNING *),
    vehicle_taken AS MATERIALIZED (
        SELECT c.* FROM vehicle_rows AS p
        CROSS JOIN LATERAL vehicle_changes(
            p.vehicle_ids, p.ts, p.kwh_delivered_dc, p.battery_temp, p.sign
        ) AS c
    ),
    vehicle_hours AS (
        INSERT INTO vehicle_hourly AS t (vehicle_id, hour, dc_kwh, temp_sum, readings)
        SELECT vehicle_id, hour, sum(dc_kwh), sum(temp_sum), sum(readings) FROM vehicle_taken
        GROUP BY vehicle_id, hour ORDER BY vehicle_id, hour
        ON CONFLICT (vehicle_id, hour) DO UPDATE
        SET dc_kwh = t.dc_kwh + EXCLUDED.dc_kwh, temp_sum = t.temp_sum + EXCLUDED.temp_sum,
            readings = t.readings + EXCLUDED.readings
    ),
    vehicle_days AS (
        INSERT INTO vehicle_window AS t (vehicle_id, dc_kwh, temp_sum, readings)
        SELECT vehicle_id, sum(dc_kwh), sum(temp_sum), sum(readings) FROM vehicle_taken, fleet
        WHERE hour >= fleet.start AND hour < fleet.start + interval '24 hours'
        GROUP BY vehicle_id ORDER BY vehicle_id
        ON CONFLICT (vehicle_id) DO UPDATE
        SET dc_kwh = t.dc_kwh + EXCLUDED.dc_kwh, temp_sum = t.temp_sum + EXCLUDED.temp_sum,
            readings = t.readings + EXCLUDED.readings
    )
    SELECT (SELECT count(*) FROM meter_taken) + (SELECT count(*) FROM vehicle_taken),
           ARRAY(SELECT DISTINCT vehicle_id FROM vehicle_taken),
           ARRAY(SELECT DISTINCT meter_id FROM meter_taken),
           (SELECT coalesce(sum(dc_kwh), 0) FROM vehicle_taken, fleet
            WHERE hour >= fleet.start AND hour < fleet.start + interval '24 hours'),
           (SELECT coalesce(sum(ac_kwh), 0) FROM meter_taken, fleet
            WHERE hour >= fleet.start AND hour < fleet.start + interval '24 hours')
    INTO taken, vehicles, meters, dc_added, ac_added;

    IF taken > 0 THEN
        UPDATE fleet_window
        SET total_dc_kwh = total_dc_kwh + dc_added, total_ac_kwh = total_ac_kwh + ac_added;
        PERFORM refresh_vehicle_efficiency(vehicles, meters);
    END IF;
    RETURN taken;
END
$$;
