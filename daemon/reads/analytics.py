"""A vehicle's analytics (docs/api.md, analytics): the energy through it and its linked meter
over a window, in total and hour by hour, and the statements that read them.

Both read the hourly rollups for whole hours, so that nothing scans a day of history per
request; numeric addition does not depend on its order, so their totals are the history's to
the last digit (sql/005).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final

from daemon.reads.records import ratio

HOURLY_MAX: Final = 168
"""The most hours the hourly view answers for."""


@dataclass(frozen=True, slots=True)
class Totals:
    """Energy through a vehicle and its linked meter over some span, and how many readings."""

    ac_kwh: float
    dc_kwh: float
    avg_battery_temp: float | None
    vehicle_readings: int
    meter_readings: int

    @property
    def efficiency(self) -> float | None:
        return ratio(self.dc_kwh, self.ac_kwh)


@dataclass(frozen=True, slots=True)
class Performance(Totals):
    """The totals of one vehicle and its linked meter over ``(window_start, window_end]``."""

    vehicle_id: str
    meter_id: str
    window_start: datetime
    window_end: datetime


@dataclass(frozen=True, slots=True)
class Hour(Totals):
    start: datetime


@dataclass(frozen=True, slots=True)
class Hourly:
    vehicle_id: str
    meter_id: str
    hours: list[Hour]


# The window's whole UTC hours come from the hourly rollups and the changes not folded into
# them yet, and only its two partial hours from the history, which would otherwise convert every
# reading of the window to numeric (docs/performance.md, "Analytics"). Numeric addition does not
# depend on its order, so the totals are the history's to the last digit (sql/005). One
# statement, one snapshot: a fold moves changes from pending to the rollups in one transaction,
# so each is counted once. Pending changes are read where they lie rather than folded first:
# an analytics read never waits for a fold.
PERFORMANCE_SQL: Final = """
WITH whole AS (SELECT utc_hour($2) + interval '1 hour' AS first, utc_hour($3) AS last),
link AS (SELECT meter_id FROM vehicle_meter_links WHERE vehicle_id = $1),
v AS (
    SELECT sum(kwh) AS kwh, sum(temp) AS temp, sum(n) AS n FROM (
        SELECT dc_kwh, temp_sum, readings FROM vehicle_hourly, whole
        WHERE vehicle_id = $1 AND hour >= whole.first AND hour < whole.last
        UNION ALL
        SELECT dc_kwh, temp_sum, readings FROM vehicle_pending_changes, whole
        WHERE vehicle_id = $1 AND hour >= whole.first AND hour < whole.last
        UNION ALL
        SELECT kwh_delivered_dc::numeric, battery_temp::numeric, 1 FROM vehicle_readings, whole
        WHERE vehicle_id = $1
          AND ((ts > $2 AND ts < whole.first) OR (ts >= whole.last AND ts <= $3))
    ) AS parts (kwh, temp, n)
),
m AS (
    SELECT sum(kwh) AS kwh, sum(n) AS n FROM (
        SELECT h.ac_kwh, h.readings FROM meter_hourly AS h, whole, link
        WHERE h.meter_id = link.meter_id AND hour >= whole.first AND hour < whole.last
        UNION ALL
        SELECT c.ac_kwh, c.readings FROM meter_pending_changes AS c, whole, link
        WHERE c.meter_id = link.meter_id AND hour >= whole.first AND hour < whole.last
        UNION ALL
        SELECT r.kwh_consumed_ac::numeric, 1 FROM meter_readings AS r, whole, link
        WHERE r.meter_id = link.meter_id
          AND ((ts > $2 AND ts < whole.first) OR (ts >= whole.last AND ts <= $3))
    ) AS parts (kwh, n)
)
SELECT link.meter_id, coalesce(v.kwh, 0)::float8 AS dc_kwh,
       (v.temp / nullif(v.n, 0))::float8 AS temp, coalesce(v.n, 0)::int AS vehicle_n,
       coalesce(m.kwh, 0)::float8 AS ac_kwh, coalesce(m.n, 0)::int AS meter_n
FROM link, v, m
"""


# One row per hour of ``[$2, $3]`` (hour starts) for the vehicle and its linked meter, from the
# hourly rollups (folded before the read); no row at all without a link. The ids are constants
# of each subquery, so that they reach the rollups' primary keys.
HOURLY_SQL: Final = """
WITH link AS (SELECT meter_id FROM vehicle_meter_links WHERE vehicle_id = $1),
v AS (
    SELECT hour, dc_kwh, temp_sum, readings FROM vehicle_hourly
    WHERE vehicle_id = $1 AND hour >= $2 AND hour <= $3
),
m AS (
    SELECT hour, ac_kwh, readings FROM meter_hourly
    WHERE meter_id = (SELECT meter_id FROM link) AND hour >= $2 AND hour <= $3
)
SELECT link.meter_id, h.hour,
       coalesce(v.dc_kwh, 0)::float8 AS dc_kwh, coalesce(m.ac_kwh, 0)::float8 AS ac_kwh,
       (v.temp_sum / nullif(v.readings, 0))::float8 AS avg_temp,
       coalesce(v.readings, 0) AS vehicle_readings, coalesce(m.readings, 0) AS meter_readings
FROM link
CROSS JOIN generate_series($2::timestamptz, $3::timestamptz, interval '1 hour') AS h (hour)
LEFT JOIN v ON v.hour = h.hour
LEFT JOIN m ON m.hour = h.hour
ORDER BY h.hour
"""


def hourly_of(vehicle_id: str, rows: list[Mapping[str, Any]]) -> Hourly | None:
    if not rows:
        return None
    return Hourly(
        vehicle_id=vehicle_id,
        meter_id=rows[0]["meter_id"],
        hours=[
            Hour(
                start=row["hour"],
                ac_kwh=row["ac_kwh"],
                dc_kwh=row["dc_kwh"],
                avg_battery_temp=row["avg_temp"],
                vehicle_readings=row["vehicle_readings"],
                meter_readings=row["meter_readings"],
            )
            for row in rows
        ],
    )
