-- Analytics sum a device's energy (and average its temperature) over a window. Rows arrive in
-- time order, so a device's readings of a day are spread over the whole day partition, one
-- heap page each: 1,440 page reads per device and day (14 ms measured with a day of history).
-- With the summed values carried in the primary key's index, the same sums are an index-only
-- scan of a few contiguous leaf pages (1 ms). The key itself, and so dedupe, is unchanged.
ALTER TABLE meter_readings
    DROP CONSTRAINT meter_readings_pkey,
    ADD PRIMARY KEY (meter_id, ts) INCLUDE (kwh_consumed_ac);

ALTER TABLE vehicle_readings
    DROP CONSTRAINT vehicle_readings_pkey,
    ADD PRIMARY KEY (vehicle_id, ts) INCLUDE (kwh_delivered_dc, battery_temp);
