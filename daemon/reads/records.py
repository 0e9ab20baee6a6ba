"""What the store's simple reads return: a device's latest state and a vehicle's link."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Final

MAX_RATIO: Final = 1e300
"""Beyond this DC over AC says only that the AC was next to nothing (1e-300 kWh and less), and
nearer float8's end the division overflows: JSON cannot carry that and PostgreSQL refuses it.
The fleet views' SQL (``fleet_vehicles``) draws the same line."""


def ratio(dc_kwh: float, ac_kwh: float) -> float | None:
    """DC over AC, unrounded; None when no AC was consumed (docs/api.md, analytics), or so little
    that the ratio means nothing."""
    if ac_kwh == 0:
        return None
    value = dc_kwh / ac_kwh
    return value if value <= MAX_RATIO else None


@dataclass(frozen=True, slots=True)
class MeterStatus:
    meter_id: str
    kwh_consumed_ac: float
    voltage: float
    ts: datetime
    updated_at: datetime


@dataclass(frozen=True, slots=True)
class VehicleStatus:
    vehicle_id: str
    soc: float
    kwh_delivered_dc: float
    battery_temp: float
    ts: datetime
    updated_at: datetime


@dataclass(frozen=True, slots=True)
class LinkRecord:
    vehicle_id: str
    meter_id: str
    linked_at: datetime
