-- Fleet reads from folded rollups, with the vehicles' 24-hour efficiency kept and indexed.
--
-- Until now the fleet views added the pending changes to the folded sums on every read, and a
-- list sorted by efficiency computed the ratio of every vehicle (a join of six relations the
-- size of the fleet) to show a hundred: 150 to 450 ms with 10,000 sites. Now a fleet read
-- first folds what is pending (daemon/store.py), so the folded tables alone are exact as of a
-- moment during the request, and vehicle_efficiency keeps per vehicle its sums and their
-- ratio, written by the fold for the vehicles and meters it changed, by a link's change for
-- its vehicle and by the window's roll for all. Every writer of vehicle_efficiency holds the
-- fold's advisory lock (key: hashtext('fold_rollups'), daemon/store.py's FOLD_LOCK), so that
-- none computes from a state another is changing. The fold moves here from the daemon's code
-- (sql/005 described it), so that a read's fold is one round trip.

-- The efficiency as the API states it: DC over AC in float8, only when AC > 0, and left out
-- beyond 1e300, where it says only that the AC was next to nothing (006).
CREATE FUNCTION window_efficiency(dc_kwh numeric, ac_kwh numeric) RETURNS float8
LANGUAGE sql IMMUTABLE AS $$
SELECT CASE WHEN ac_kwh > 0 AND dc_kwh <= ac_kwh * 1e300 THEN dc_kwh::float8 / ac_kwh::float8 END
$$;

-- The alert rules (API.md, "Fleet views"), one function each, so that the lists' alerts, the
-- alerts filter and the summary's counts share one definition, and the summary can count with
-- plain conditions rather than an array per device (5.5 ms against 1.4 over 10,000 vehicles).
-- Those of one value are immutable, so that an index can hold them.
CREATE FUNCTION alert_stale(last_seen timestamptz) RETURNS boolean
LANGUAGE sql STABLE AS $$ SELECT last_seen < now() - interval '5 minutes' $$;
CREATE FUNCTION alert_efficiency_low(efficiency float8) RETURNS boolean
LANGUAGE sql IMMUTABLE AS $$ SELECT efficiency < 0.80 $$;
CREATE FUNCTION alert_efficiency_high(efficiency float8) RETURNS boolean
LANGUAGE sql IMMUTABLE AS $$ SELECT efficiency > 1.0 $$;
CREATE FUNCTION alert_battery_hot(battery_temp float8) RETURNS boolean
LANGUAGE sql IMMUTABLE AS $$ SELECT battery_temp > 45 $$;
CREATE FUNCTION alert_voltage_out_of_range(voltage float8) RETURNS boolean
LANGUAGE sql IMMUTABLE AS $$ SELECT voltage <> 0 AND (voltage < 207 OR voltage > 253) $$;
CREATE FUNCTION alert_outage(voltage float8) RETURNS boolean
LANGUAGE sql IMMUTABLE AS $$ SELECT voltage = 0 $$;

CREATE OR REPLACE FUNCTION vehicle_alerts(
    last_seen timestamptz, efficiency float8, battery_temp float8
) RETURNS text[] LANGUAGE sql STABLE AS $$
SELECT array_remove(ARRAY[
    CASE WHEN alert_stale(last_seen) THEN 'stale' END,
    CASE WHEN alert_efficiency_low(efficiency) THEN 'efficiency_low' END,
    CASE WHEN alert_efficiency_high(efficiency) THEN 'efficiency_high' END,
    CASE WHEN alert_battery_hot(battery_temp) THEN 'battery_hot' END
], NULL)
$$;

CREATE OR REPLACE FUNCTION meter_alerts(last_seen timestamptz, voltage float8)
RETURNS text[] LANGUAGE sql STABLE AS $$
SELECT array_remove(ARRAY[
    CASE WHEN alert_stale(last_seen) THEN 'stale' END,
    CASE WHEN alert_voltage_out_of_range(voltage) THEN 'voltage_out_of_range' END,
    CASE WHEN alert_outage(voltage) THEN 'outage' END
], NULL)
$$;

-- The fleet's totals over the window, kept by the fold and the roll beside the window's start:
-- the sums of every device's window row, exactly (numeric).
ALTER TABLE fleet_window ADD COLUMN total_dc_kwh numeric NOT NULL DEFAULT 0,
                         ADD COLUMN total_ac_kwh numeric NOT NULL DEFAULT 0;

CREATE FUNCTION total_fleet_window() RETURNS void
LANGUAGE sql AS $$
UPDATE fleet_window
SET total_dc_kwh = (SELECT coalesce(sum(dc_kwh), 0) FROM vehicle_window),
    total_ac_kwh = (SELECT coalesce(sum(ac_kwh), 0) FROM meter_window)
$$;

-- One row per vehicle that has reported (a vehicle's first flush leaves pending changes, and
-- the fold that takes them writes its row): its window's DC, its linked meter's window AC, and
-- their ratio, as of the last fold.
CREATE TABLE vehicle_efficiency (
    vehicle_id text    PRIMARY KEY,
    meter_id   text,
    dc_kwh     numeric NOT NULL,
    ac_kwh     numeric NOT NULL,
    efficiency float8
) WITH (fillfactor = 70);

-- The list's two orders (daemon/fleet.py: nulls last either way, then by id), and the vehicles
-- whose efficiency alone raises an alert, for the summary's count.
CREATE INDEX vehicle_efficiency_ascending
    ON vehicle_efficiency ((efficiency IS NULL), coalesce(efficiency, 0), vehicle_id);
CREATE INDEX vehicle_efficiency_descending
    ON vehicle_efficiency ((efficiency IS NULL), coalesce(efficiency, 0) DESC, vehicle_id DESC);
CREATE INDEX vehicle_efficiency_alerting ON vehicle_efficiency (vehicle_id)
    WHERE alert_efficiency_low(efficiency) OR alert_efficiency_high(efficiency);

-- Rewrite the rows of `vehicles` and of the vehicles linked to `meters` from the window tables
-- and the links as they stand; a row that would not change is left alone.
CREATE FUNCTION refresh_vehicle_efficiency(vehicles text[], meters text[]) RETURNS void
LANGUAGE sql AS $$
INSERT INTO vehicle_efficiency AS e (vehicle_id, meter_id, dc_kwh, ac_kwh, efficiency)
SELECT l.vehicle_id, k.meter_id, s.dc_kwh, s.ac_kwh, window_efficiency(s.dc_kwh, s.ac_kwh)
FROM (SELECT unnest(vehicles)
      UNION
      SELECT vehicle_id FROM vehicle_meter_links WHERE meter_id = ANY (meters)) AS t (vehicle_id)
JOIN vehicle_latest AS l ON l.vehicle_id = t.vehicle_id
LEFT JOIN vehicle_window AS w ON w.vehicle_id = l.vehicle_id
LEFT JOIN vehicle_meter_links AS k ON k.vehicle_id = l.vehicle_id
LEFT JOIN meter_window AS mw ON mw.meter_id = k.meter_id
CROSS JOIN LATERAL (
    SELECT coalesce(w.dc_kwh, 0) AS dc_kwh, coalesce(mw.ac_kwh, 0) AS ac_kwh
) AS s
ORDER BY l.vehicle_id
ON CONFLICT (vehicle_id) DO UPDATE
SET meter_id = EXCLUDED.meter_id, dc_kwh = EXCLUDED.dc_kwh, ac_kwh = EXCLUDED.ac_kwh,
    efficiency = EXCLUDED.efficiency
WHERE (e.meter_id, e.dc_kwh, e.ac_kwh)
    IS DISTINCT FROM (EXCLUDED.meter_id, EXCLUDED.dc_kwh, EXCLUDED.ac_kwh)
$$;

-- Fold the pending changes into the hourly and window rollups, a device's changes of an hour in
-- one update (rows in key order: no deadlock with another writer of the rows), and rewrite the
-- efficiency of the vehicles and meters they touched; returns how many changes it took.
--
-- One fold at a time over every worker and daemon, by a transaction-scoped advisory lock that
-- every writer of vehicle_efficiency holds: two folds at once each locked pending rows the
-- other was about to take and deadlocked now and then. A timed fold (`wait` false) takes
-- nothing when another fold runs, which takes the changes; a fleet read's fold waits for it,
-- since the read needs every change committed before it. With nothing pending in its snapshot
-- a fold returns at once, without the lock: every change committed before it is folded then.
-- The window's row is read FOR KEY SHARE, so that the roll cannot move the window meanwhile.
CREATE FUNCTION fold_rollups(wait boolean) RETURNS bigint
LANGUAGE plpgsql AS $$
DECLARE
    taken bigint;
    vehicles text[];
    meters text[];
    dc_added numeric;
    ac_added numeric;
BEGIN
    IF NOT EXISTS (SELECT FROM meter_hourly_pending)
       AND NOT EXISTS (SELECT FROM vehicle_hourly_pending) THEN
        RETURN 0;
    END IF;
    IF wait THEN
        PERFORM pg_advisory_xact_lock(hashtext('fold_rollups'));
    ELSIF NOT pg_try_advisory_xact_lock(hashtext('fold_rollups')) THEN
        RETURN 0;
    END IF;

    WITH fleet AS (SELECT start FROM fleet_window FOR KEY SHARE),
    meter_taken AS (DELETE FROM meter_hourly_pending RETURNING *),
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
    vehicle_taken AS (DELETE FROM vehicle_hourly_pending RETURNING *),
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

-- The window's roll moves every vehicle's efficiency with it, under the fold's lock: a fold or
-- a link's change in between would compute from sums the roll is changing.
ALTER FUNCTION roll_fleet_window(timestamptz) RENAME TO roll_fleet_sums;

CREATE FUNCTION roll_fleet_window(new_start timestamptz) RETURNS boolean
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_advisory_xact_lock(hashtext('fold_rollups'));
    IF NOT roll_fleet_sums(new_start) THEN
        RETURN false;
    END IF;
    PERFORM total_fleet_window();
    PERFORM refresh_vehicle_efficiency(ARRAY(SELECT vehicle_id FROM vehicle_latest), NULL);
    RETURN true;
END
$$;

-- The lists read the folded tables now; the reading views over pending changes go. Every
-- vehicle_efficiency row has its latest row (the refresh joins it; latest rows are never
-- deleted): the left join finds them all, and lets the planner leave vehicle_latest out of a
-- count that needs none of its columns (the unfiltered list's total).
CREATE OR REPLACE VIEW fleet_vehicles AS
SELECT e.vehicle_id, e.meter_id, l.soc, l.battery_temp, l.kwh_delivered_dc, l.ts AS last_seen,
       e.dc_kwh, e.ac_kwh, e.efficiency
FROM vehicle_efficiency AS e
LEFT JOIN vehicle_latest AS l ON l.vehicle_id = e.vehicle_id;

CREATE OR REPLACE VIEW fleet_meters AS
SELECT l.meter_id, l.voltage, l.kwh_consumed_ac, l.ts AS last_seen,
       coalesce(w.ac_kwh, 0) AS ac_kwh
FROM meter_latest AS l
LEFT JOIN meter_window AS w ON w.meter_id = l.meter_id;

DROP VIEW meter_window_pending, vehicle_window_pending, meter_hourly_now, vehicle_hourly_now;

-- The totals and every vehicle's row, from the folded tables; the next fold adds what it takes.
SELECT total_fleet_window();
SELECT refresh_vehicle_efficiency(ARRAY(SELECT vehicle_id FROM vehicle_latest), NULL);
