"""What the read side returns, and its wire form (the field names the original service used)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Final


def rfc3339(moment: datetime) -> str:
    """RFC 3339 in UTC with milliseconds and ``Z``, the one time format of the API."""
    return (
        moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"
    )


MAX_RATIO: Final = 1e300
"""Beyond this DC over AC says only that the AC was next to nothing (1e-300 kWh and less), and
nearer float8's end the division overflows: JSON cannot carry that and PostgreSQL refuses it.
The fleet views' SQL (``fleet_vehicles``) draws the same line."""


def ratio(dc_kwh: float, ac_kwh: float) -> float | None:
    """DC over AC, unrounded; None when no AC was consumed (API.md, analytics), or so little
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

    def wire(self) -> dict[str, Any]:
        return {
            "meter_id": self.meter_id,
            "kwh_consumed_ac": self.kwh_consumed_ac,
            "voltage": self.voltage,
            "ts": rfc3339(self.ts),
            "updated_at": rfc3339(self.updated_at),
        }


@dataclass(frozen=True, slots=True)
class VehicleStatus:
    vehicle_id: str
    soc: float
    kwh_delivered_dc: float
    battery_temp: float
    ts: datetime
    updated_at: datetime

    def wire(self) -> dict[str, Any]:
        return {
            "vehicle_id": self.vehicle_id,
            "soc": self.soc,
            "kwh_delivered_dc": self.kwh_delivered_dc,
            "battery_temp": self.battery_temp,
            "ts": rfc3339(self.ts),
            "updated_at": rfc3339(self.updated_at),
        }


@dataclass(frozen=True, slots=True)
class LinkRecord:
    vehicle_id: str
    meter_id: str
    linked_at: datetime

    def wire(self) -> dict[str, Any]:
        return {
            "vehicleId": self.vehicle_id,
            "meterId": self.meter_id,
            "linkedAt": rfc3339(self.linked_at),
        }


@dataclass(frozen=True, slots=True)
class Performance:
    """Energy through one vehicle and its linked meter over ``(window_start, window_end]``."""

    vehicle_id: str
    meter_id: str
    window_start: datetime
    window_end: datetime
    ac_kwh: float
    dc_kwh: float
    avg_battery_temp: float | None
    vehicle_readings: int
    meter_readings: int

    @property
    def efficiency(self) -> float | None:
        return ratio(self.dc_kwh, self.ac_kwh)

    def wire(self) -> dict[str, Any]:
        return {
            "vehicleId": self.vehicle_id,
            "meterId": self.meter_id,
            "windowStart": rfc3339(self.window_start),
            "windowEnd": rfc3339(self.window_end),
            "totalEnergyConsumedAc": self.ac_kwh,
            "totalEnergyDeliveredDc": self.dc_kwh,
            "efficiencyRatio": self.efficiency,
            "avgBatteryTemp": self.avg_battery_temp,
            "vehicleReadings": self.vehicle_readings,
            "meterReadings": self.meter_readings,
        }
