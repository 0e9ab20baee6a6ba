-- The fleet lists' efficiency, bounded as the API's (daemon/views.py, MAX_RATIO): DC over AC
-- is left out beyond 1e300, where it says only that the AC was next to nothing, and where the
-- float8 division could overflow and fail the whole list. The test is made in numeric, which
-- cannot overflow here; the value shown is still the float8 division the answer states.
CREATE OR REPLACE VIEW fleet_vehicles AS
SELECT l.vehicle_id, k.meter_id, l.soc, l.battery_temp, l.kwh_delivered_dc, l.ts AS last_seen,
       s.dc_kwh, s.ac_kwh,
       CASE WHEN s.ac_kwh > 0 AND s.dc_kwh <= s.ac_kwh * 1e300
            THEN s.dc_kwh::float8 / s.ac_kwh::float8 END AS efficiency
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
