-- The vehicles list by efficiency, descending, keeps nulls last by a flag that runs the same
-- way as the other keys: (efficiency IS NOT NULL) DESC, efficiency DESC, vehicle_id DESC
-- (daemon/fleet.py). A page after a cursor is then one row comparison that the index below,
-- scanned backwards, starts at, rather than conditions joined by OR that it walked to from
-- the first vehicle (page 51 of 100 read 5,100 rows and joined each to its latest state).
DROP INDEX vehicle_efficiency_descending;
CREATE INDEX vehicle_efficiency_descending
    ON vehicle_efficiency ((efficiency IS NOT NULL), coalesce(efficiency, 0), vehicle_id);
