-- Rollups for the fleet views, exact at every moment.
--
-- Per device and UTC hour: the energy, the temperature sum and the number of stored readings.
-- Each flush records, in its own statement, what it changed (RETURNING old and new of the
-- history upsert): a new reading adds its values and 1, a replacing one adds new minus old
-- and 0. It appends those changes to *_hourly_pending, a table without indexes, which costs a
-- flush far less than updating the rollups row by row; a fold (every few seconds) moves pending
-- changes into *_hourly and *_window, many readings of a device and hour in one update, and
-- deletes them in the same transaction. Reads add the pending changes to the folded sums in
-- one snapshot (the *_hourly_now and *_window_pending views): a change is always in exactly
-- one of the two. Sums are numeric, so that adding and taking away is exact and the rollups always
-- equal the sums of the stored history (float8 addition depends on its order; numeric does
-- not). Every unique key contains the device id, like the history's.
CREATE TABLE meter_hourly (
    meter_id text        NOT NULL,
    hour     timestamptz NOT NULL,
    ac_kwh   numeric     NOT NULL,
    readings integer     NOT NULL,
    PRIMARY KEY (meter_id, hour)
) WITH (fillfactor = 70);

CREATE TABLE vehicle_hourly (
    vehicle_id text        NOT NULL,
    hour       timestamptz NOT NULL,
    dc_kwh     numeric     NOT NULL,
    temp_sum   numeric     NOT NULL,
    readings   integer     NOT NULL,
    PRIMARY KEY (vehicle_id, hour)
) WITH (fillfactor = 70);

CREATE TABLE meter_hourly_pending (
    meter_id text        NOT NULL,
    hour     timestamptz NOT NULL,
    ac_kwh   numeric     NOT NULL,
    readings integer     NOT NULL
) WITH (autovacuum_vacuum_scale_factor = 0, autovacuum_vacuum_threshold = 10000);

CREATE TABLE vehicle_hourly_pending (
    vehicle_id text        NOT NULL,
    hour       timestamptz NOT NULL,
    dc_kwh     numeric     NOT NULL,
    temp_sum   numeric     NOT NULL,
    readings   integer     NOT NULL
) WITH (autovacuum_vacuum_scale_factor = 0, autovacuum_vacuum_threshold = 10000);

-- The fleet's 24-hour window: the hour-aligned [start, start + 24 h), one row. Per device the
-- *_window tables hold the sums over exactly that window, so that a fleet list is a join of
-- four tables of one row per device, never an aggregation over hours or history. The fold
-- adds to them what falls inside the window; roll_fleet_window moves it on at each hour.
CREATE TABLE fleet_window (
    only_row boolean     PRIMARY KEY DEFAULT true CHECK (only_row),
    start    timestamptz NOT NULL
);

CREATE TABLE meter_window (
    meter_id text    PRIMARY KEY,
    ac_kwh   numeric NOT NULL,
    readings integer NOT NULL
) WITH (fillfactor = 70);

CREATE TABLE vehicle_window (
    vehicle_id text    PRIMARY KEY,
    dc_kwh     numeric NOT NULL,
    temp_sum   numeric NOT NULL,
    readings   integer NOT NULL
) WITH (fillfactor = 70);

INSERT INTO meter_hourly
SELECT meter_id, date_trunc('hour', ts, 'UTC'), sum(kwh_consumed_ac::numeric), count(*)
FROM meter_readings GROUP BY 1, 2;

INSERT INTO vehicle_hourly
SELECT vehicle_id, date_trunc('hour', ts, 'UTC'), sum(kwh_delivered_dc::numeric),
       sum(battery_temp::numeric), count(*)
FROM vehicle_readings GROUP BY 1, 2;

INSERT INTO fleet_window (start) VALUES (date_trunc('hour', now(), 'UTC') - interval '23 hours');

INSERT INTO meter_window
SELECT meter_id, sum(ac_kwh), sum(readings) FROM meter_hourly, fleet_window
WHERE hour >= start AND hour < start + interval '24 hours' GROUP BY meter_id;

INSERT INTO vehicle_window
SELECT vehicle_id, sum(dc_kwh), sum(temp_sum), sum(readings) FROM vehicle_hourly, fleet_window
WHERE hour >= start AND hour < start + interval '24 hours' GROUP BY vehicle_id;

-- Move the window on to [new_start, new_start + 24 h). The fold reads the window's row FOR KEY
-- SHARE before it adds to a *_window row, and this locks it FOR UPDATE first: a fold either
-- committed before (and the statements below, each with a fresh snapshot, see its hourly
-- sums) or waits and then sees the new start. Either way each change is counted once; pending
-- changes are in neither table, and the reading views place them by the window's start. Returns
-- false when the window is already there (several workers roll it at once).
CREATE FUNCTION roll_fleet_window(new_start timestamptz) RETURNS boolean
LANGUAGE plpgsql AS $$
DECLARE
    old_start timestamptz;
    day constant interval := interval '24 hours';
BEGIN
    SELECT start INTO old_start FROM fleet_window FOR UPDATE;
    IF old_start >= new_start THEN
        RETURN false;
    END IF;
    UPDATE fleet_window SET start = new_start;

    -- Hours that leave the window.
    UPDATE meter_window AS w
    SET ac_kwh = w.ac_kwh - h.ac_kwh, readings = w.readings - h.readings
    FROM (SELECT meter_id, sum(ac_kwh) AS ac_kwh, sum(readings) AS readings
          FROM meter_hourly
          WHERE hour >= old_start AND hour < least(new_start, old_start + day)
          GROUP BY meter_id) AS h
    WHERE w.meter_id = h.meter_id;
    UPDATE vehicle_window AS w
    SET dc_kwh = w.dc_kwh - h.dc_kwh, temp_sum = w.temp_sum - h.temp_sum,
        readings = w.readings - h.readings
    FROM (SELECT vehicle_id, sum(dc_kwh) AS dc_kwh, sum(temp_sum) AS temp_sum,
                 sum(readings) AS readings
          FROM vehicle_hourly
          WHERE hour >= old_start AND hour < least(new_start, old_start + day)
          GROUP BY vehicle_id) AS h
    WHERE w.vehicle_id = h.vehicle_id;
    DELETE FROM meter_window WHERE readings = 0;
    DELETE FROM vehicle_window WHERE readings = 0;

    -- Hours that enter it (readings a little ahead of the clock, or a roll hours late).
    INSERT INTO meter_window AS w
    SELECT meter_id, sum(ac_kwh), sum(readings) FROM meter_hourly
    WHERE hour >= greatest(new_start, old_start + day) AND hour < new_start + day
    GROUP BY meter_id ORDER BY meter_id
    ON CONFLICT (meter_id) DO UPDATE
    SET ac_kwh = w.ac_kwh + EXCLUDED.ac_kwh, readings = w.readings + EXCLUDED.readings;
    INSERT INTO vehicle_window AS w
    SELECT vehicle_id, sum(dc_kwh), sum(temp_sum), sum(readings) FROM vehicle_hourly
    WHERE hour >= greatest(new_start, old_start + day) AND hour < new_start + day
    GROUP BY vehicle_id ORDER BY vehicle_id
    ON CONFLICT (vehicle_id) DO UPDATE
    SET dc_kwh = w.dc_kwh + EXCLUDED.dc_kwh, temp_sum = w.temp_sum + EXCLUDED.temp_sum,
        readings = w.readings + EXCLUDED.readings;
    RETURN true;
END
$$;

-- The rollups as of this snapshot: folded sums plus the changes still pending.
CREATE VIEW meter_hourly_now AS
SELECT meter_id, hour, sum(ac_kwh) AS ac_kwh, sum(readings)::integer AS readings
FROM (SELECT meter_id, hour, ac_kwh, readings FROM meter_hourly
      UNION ALL
      SELECT meter_id, hour, ac_kwh, readings FROM meter_hourly_pending) AS u
GROUP BY meter_id, hour;

CREATE VIEW vehicle_hourly_now AS
SELECT vehicle_id, hour, sum(dc_kwh) AS dc_kwh, sum(temp_sum) AS temp_sum,
       sum(readings)::integer AS readings
FROM (SELECT vehicle_id, hour, dc_kwh, temp_sum, readings FROM vehicle_hourly
      UNION ALL
      SELECT vehicle_id, hour, dc_kwh, temp_sum, readings FROM vehicle_hourly_pending) AS u
GROUP BY vehicle_id, hour;

-- Per device, the pending changes that fall inside the window: what the *_window rows do not
-- hold yet. Usually a handful of rows, so that joining them costs next to nothing.
CREATE VIEW meter_window_pending AS
SELECT p.meter_id, sum(p.ac_kwh) AS ac_kwh, sum(p.readings)::integer AS readings
FROM meter_hourly_pending AS p, fleet_window AS f
WHERE p.hour >= f.start AND p.hour < f.start + interval '24 hours'
GROUP BY p.meter_id;

CREATE VIEW vehicle_window_pending AS
SELECT p.vehicle_id, sum(p.dc_kwh) AS dc_kwh, sum(p.temp_sum) AS temp_sum,
       sum(p.readings)::integer AS readings
FROM vehicle_hourly_pending AS p, fleet_window AS f
WHERE p.hour >= f.start AND p.hour < f.start + interval '24 hours'
GROUP BY p.vehicle_id;

-- The alert rules (API.md, "Fleet views"), one definition for the lists, their alerts filter
-- and the summary's counts. Functions rather than view columns, so that a list computes them
-- for the rows of its page and its filter only, not for every device it sorts.
CREATE FUNCTION vehicle_alerts(last_seen timestamptz, efficiency float8, battery_temp float8)
RETURNS text[] LANGUAGE sql STABLE AS $$
SELECT array_remove(ARRAY[
    CASE WHEN last_seen < now() - interval '5 minutes' THEN 'stale' END,
    CASE WHEN efficiency < 0.80 THEN 'efficiency_low' END,
    CASE WHEN efficiency > 1.0 THEN 'efficiency_high' END,
    CASE WHEN battery_temp > 45 THEN 'battery_hot' END
], NULL)
$$;

CREATE FUNCTION meter_alerts(last_seen timestamptz, voltage float8)
RETURNS text[] LANGUAGE sql STABLE AS $$
SELECT array_remove(ARRAY[
    CASE WHEN last_seen < now() - interval '5 minutes' THEN 'stale' END,
    CASE WHEN voltage <> 0 AND (voltage < 207 OR voltage > 253) THEN 'voltage_out_of_range' END,
    CASE WHEN voltage = 0 THEN 'outage' END
], NULL)
$$;

-- The fleet lists: one row per device that has reported, its latest state and its sums over
-- the window as of this snapshot (folded plus pending). Every device with a pending change has
-- a latest row (the same flush wrote both), so left joins from the latest rows see them all.
CREATE VIEW fleet_vehicles AS
SELECT l.vehicle_id, k.meter_id, l.soc, l.battery_temp, l.kwh_delivered_dc, l.ts AS last_seen,
       s.dc_kwh, s.ac_kwh,
       -- The ratio as the API states it (DC over AC in float8, the division the answer
       -- shows), only when AC > 0.
       CASE WHEN s.ac_kwh > 0 THEN s.dc_kwh::float8 / s.ac_kwh::float8 END AS efficiency
FROM vehicle_latest AS l
LEFT JOIN vehicle_window AS w ON w.vehicle_id = l.vehicle_id
LEFT JOIN vehicle_window_pending AS wp ON wp.vehicle_id = l.vehicle_id
LEFT JOIN vehicle_meter_links AS k ON k.vehicle_id = l.vehicle_id
LEFT JOIN meter_window AS mw ON mw.meter_id = k.meter_id
LEFT JOIN meter_window_pending AS mp ON mp.meter_id = k.meter_id
CROSS JOIN LATERAL (
    SELECT coalesce(w.dc_kwh, 0) + coalesce(wp.dc_kwh, 0) AS dc_kwh,
           coalesce(mw.ac_kwh, 0) + coalesce(mp.ac_kwh, 0) AS ac_kwh
) AS s;

CREATE VIEW fleet_meters AS
SELECT l.meter_id, l.voltage, l.kwh_consumed_ac, l.ts AS last_seen,
       coalesce(w.ac_kwh, 0) + coalesce(p.ac_kwh, 0) AS ac_kwh
FROM meter_latest AS l
LEFT JOIN meter_window AS w ON w.meter_id = l.meter_id
LEFT JOIN meter_window_pending AS p ON p.meter_id = l.meter_id;
