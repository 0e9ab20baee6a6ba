-- Cold path: every reading, range-partitioned by UTC day on the reading's timestamp.
-- The primary key (device id, ts) is the dedupe key (a repeated reading replaces the stored one)
-- and the index the 24-hour analytics scan by range. Every unique key starts with the device
-- id, so the tables can later be distributed by it (Citus) without a schema change.
-- Partitions are created by the daemon: ahead of time, and on demand for late data.
CREATE TABLE meter_readings (
    meter_id        text             NOT NULL,
    ts              timestamptz      NOT NULL,
    kwh_consumed_ac double precision NOT NULL,
    voltage         double precision NOT NULL,
    received_at     timestamptz      NOT NULL,
    PRIMARY KEY (meter_id, ts)
) PARTITION BY RANGE (ts);

CREATE TABLE vehicle_readings (
    vehicle_id       text             NOT NULL,
    ts               timestamptz      NOT NULL,
    soc              double precision NOT NULL,
    kwh_delivered_dc double precision NOT NULL,
    battery_temp     double precision NOT NULL,
    received_at      timestamptz      NOT NULL,
    PRIMARY KEY (vehicle_id, ts)
) PARTITION BY RANGE (ts);

-- Hot path: one row per device, upserted once per device per flush with the guard
-- EXCLUDED.ts >= stored ts. Nothing indexed changes on update, and the spare room per page
-- (fillfactor) lets PostgreSQL update in place (HOT) instead of growing the indexes.
CREATE TABLE meter_latest (
    meter_id        text PRIMARY KEY,
    ts              timestamptz      NOT NULL,
    kwh_consumed_ac double precision NOT NULL,
    voltage         double precision NOT NULL,
    updated_at      timestamptz      NOT NULL
) WITH (fillfactor = 70, autovacuum_vacuum_scale_factor = 0.02);

CREATE TABLE vehicle_latest (
    vehicle_id       text PRIMARY KEY,
    ts               timestamptz      NOT NULL,
    soc              double precision NOT NULL,
    kwh_delivered_dc double precision NOT NULL,
    battery_temp     double precision NOT NULL,
    updated_at       timestamptz      NOT NULL
) WITH (fillfactor = 70, autovacuum_vacuum_scale_factor = 0.02);

-- Which meter a vehicle charges from. A vehicle has at most one; a meter may serve several.
CREATE TABLE vehicle_meter_links (
    vehicle_id text PRIMARY KEY,
    meter_id   text        NOT NULL,
    linked_at  timestamptz NOT NULL
);

CREATE INDEX vehicle_meter_links_meter_id ON vehicle_meter_links (meter_id);
