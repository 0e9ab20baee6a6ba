"""What a shard writer holds between two commits, and the rows it turns into.

Cold path: every reading, one row per (device, timestamp); a later arrival with the same key
replaces the earlier one, because PostgreSQL refuses two rows for one key in a single
``ON CONFLICT DO UPDATE`` statement, and because the contract says the last received wins.
Hot path: one reading per device, the newest timestamp, ties going to the last received, so
that at 10,000 devices the latest-state tables get one upsert per device per tick.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import TypeVar

from daemon.readings import MeterReading, Reading, VehicleReading


@dataclass(frozen=True, slots=True)
class MeterRows:
    meter_ids: list[str]
    ts: list[datetime]
    kwh_consumed_ac: list[float]
    voltage: list[float]

    @staticmethod
    def of(readings: list[MeterReading]) -> MeterRows:
        return MeterRows(
            [r.device_id for r in readings],
            [r.ts for r in readings],
            [r.kwh_consumed_ac for r in readings],
            [r.voltage for r in readings],
        )


@dataclass(frozen=True, slots=True)
class VehicleRows:
    vehicle_ids: list[str]
    ts: list[datetime]
    soc: list[float]
    kwh_delivered_dc: list[float]
    battery_temp: list[float]

    @staticmethod
    def of(readings: list[VehicleReading]) -> VehicleRows:
        return VehicleRows(
            [r.device_id for r in readings],
            [r.ts for r in readings],
            [r.soc for r in readings],
            [r.kwh_delivered_dc for r in readings],
            [r.battery_temp for r in readings],
        )


@dataclass(frozen=True, slots=True)
class FlushRows:
    """One commit's worth of rows, as columns (the shape ``unnest`` wants)."""

    meter_history: MeterRows
    vehicle_history: VehicleRows
    meter_latest: MeterRows
    vehicle_latest: VehicleRows


@dataclass(frozen=True, slots=True)
class Added:
    """History rows a commit added, by kind; its other rows replaced stored readings."""

    meters: int
    vehicles: int


class ShardBatch:
    """Readings received since the last commit, coalesced as they arrive."""

    __slots__ = (
        "_latest_meters",
        "_latest_vehicles",
        "_meters",
        "_vehicles",
        "meters_received",
        "vehicles_received",
    )

    def __init__(self) -> None:
        self._meters: dict[tuple[str, datetime], MeterReading] = {}
        self._vehicles: dict[tuple[str, datetime], VehicleReading] = {}
        self._latest_meters: dict[str, MeterReading] = {}
        self._latest_vehicles: dict[str, VehicleReading] = {}
        self.meters_received = 0
        self.vehicles_received = 0

    @property
    def received(self) -> int:
        """Readings taken in, duplicates included."""
        return self.meters_received + self.vehicles_received

    def __len__(self) -> int:
        """Distinct (device, timestamp) rows held: what the next commit writes to history."""
        return len(self._meters) + len(self._vehicles)

    def add(self, reading: Reading) -> None:
        if isinstance(reading, MeterReading):
            self.meters_received += 1
            self._meters[reading.device_id, reading.ts] = reading
            held_meter = self._latest_meters.get(reading.device_id)
            if held_meter is None or reading.ts >= held_meter.ts:
                self._latest_meters[reading.device_id] = reading
        else:
            self.vehicles_received += 1
            self._vehicles[reading.device_id, reading.ts] = reading
            held_vehicle = self._latest_vehicles.get(reading.device_id)
            if held_vehicle is None or reading.ts >= held_vehicle.ts:
                self._latest_vehicles[reading.device_id] = reading

    def rows(self) -> FlushRows:
        """Rows come sorted by key, so that concurrent writers (several processes sharing one
        database, or a retry landing on another process) lock rows in one order and cannot
        deadlock."""
        return FlushRows(
            meter_history=MeterRows.of(_by_key(self._meters)),
            vehicle_history=VehicleRows.of(_by_key(self._vehicles)),
            meter_latest=MeterRows.of(sorted(self._latest_meters.values(), key=_device)),
            vehicle_latest=VehicleRows.of(sorted(self._latest_vehicles.values(), key=_device)),
        )


def _device(reading: Reading) -> str:
    return reading.device_id


_R = TypeVar("_R", MeterReading, VehicleReading)


def _by_key(held: dict[tuple[str, datetime], _R]) -> list[_R]:
    return [held[key] for key in sorted(held)]
