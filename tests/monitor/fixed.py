"""A daemon of fixed data for the snapshot and UI tests: the same fleet, the same answers and
the same clock on every run, so a snapshot changes only when the monitor's looks do.

It answers the list queries the way API.md describes them (sort, order, q, alerts, cursor),
over a small in-memory fleet, so paging and filtering can be driven without PostgreSQL; the
tests against a real daemon check the same keys end to end.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

from monitor.api.errors import DaemonError, NotFound, Unreachable
from monitor.api.wire import (
    Engine,
    FleetEfficiency,
    FleetSummary,
    Hour,
    Hourly,
    ListQuery,
    MeterCounts,
    MeterRow,
    MeterStatus,
    Page,
    Performance,
    Readiness,
    VehicleCounts,
    VehicleRow,
    VehicleStatus,
)
from monitor.ui.settings import Clock, Settings

NOW = datetime(2026, 2, 9, 10, 0, 30, tzinfo=UTC)
WINDOW_START = datetime(2026, 2, 8, 11, 0, tzinfo=UTC)
WINDOW_END = datetime(2026, 2, 9, 11, 0, tzinfo=UTC)
MONOTONIC_S = 1000.0
VEHICLES = 250
RATES = (1210.0, 1380.5, 1502.0, 1460.2, 1622.8, 1790.1, 1830.5, 1711.0, 1904.3, 1850.7)

_R = TypeVar("_R", VehicleRow, MeterRow)


def fixed_settings(**changes: Any) -> Settings:
    """A refresh so long that nothing polls by itself: a test decides when data arrives."""
    clock = Clock(monotonic=lambda: MONOTONIC_S, now=lambda: NOW)
    settings = Settings(
        url="http://127.0.0.1:3000", refresh_s=3600.0, history_s=3600.0 * 60, clock=clock
    )
    return replace(settings, **changes)


def _vehicle(i: int) -> VehicleRow:
    linked = i % 23 != 7
    ac = round(2.0 + (i * 37) % 400 / 10, 2) if linked else 0.0
    ratio = 0.78 + ((i * 13) % 25) / 100
    dc = round(ac * ratio, 2)
    efficiency = ratio if ac > 0 else None
    temp = 18.0 + (i * 7) % 31
    last_seen = NOW - timedelta(seconds=(i % 9) * 20 + (400 if i % 31 == 3 else 0))
    alerts = []
    if efficiency is not None and efficiency < 0.80:
        alerts.append("efficiency_low")
    if efficiency is not None and efficiency > 1.0:
        alerts.append("efficiency_high")
    if temp > 45:
        alerts.append("battery_hot")
    if (NOW - last_seen).total_seconds() > 300:
        alerts.append("stale")
    return VehicleRow(
        vehicle_id=f"vehicle-{i:05d}",
        meter_id=f"meter-{i:05d}" if linked else None,
        soc=float((i * 37) % 101),
        battery_temp=temp,
        kwh_delivered_dc=round(((i * 3) % 20) / 10, 3),
        last_seen=last_seen,
        dc_kwh_24h=dc,
        ac_kwh_24h=ac,
        efficiency_24h=efficiency,
        alerts=tuple(alerts),
    )


def _meter(i: int) -> MeterRow:
    voltage = 0.0 if i % 17 == 5 else 230.0 + ((i * 11) % 52 - 26)
    alerts = []
    if voltage == 0:
        alerts.append("outage")
    elif not 207 <= voltage <= 253:
        alerts.append("voltage_out_of_range")
    return MeterRow(
        meter_id=f"meter-{i:05d}",
        voltage=voltage,
        kwh_consumed_ac=round(((i * 5) % 25) / 10, 3),
        last_seen=NOW - timedelta(seconds=(i % 7) * 15),
        ac_kwh_24h=round(2.0 + (i * 37) % 400 / 10, 2),
        alerts=tuple(alerts),
    )


_VEHICLE_SORTS: dict[str, Callable[[VehicleRow], Any]] = {
    "id": lambda row: row.vehicle_id,
    "soc": lambda row: row.soc,
    "batteryTemp": lambda row: row.battery_temp,
    "lastSeen": lambda row: row.last_seen,
    "efficiency": lambda row: -1.0 if row.efficiency_24h is None else row.efficiency_24h,
}
_METER_SORTS: dict[str, Callable[[MeterRow], Any]] = {
    "id": lambda row: row.meter_id,
    "voltage": lambda row: row.voltage,
    "lastSeen": lambda row: row.last_seen,
}


def _page(
    rows: list[_R], query: ListQuery, sorts: dict[str, Callable[[_R], Any]], ident: str
) -> Page[_R]:
    chosen = [
        row
        for row in rows
        if query.q.lower() in getattr(row, ident).lower() and (row.alerts or not query.alerts_only)
    ]
    chosen.sort(key=lambda row: (sorts[query.sort](row), getattr(row, ident)))
    if query.order == "desc":
        chosen.reverse()
    start = int(query.cursor or 0)
    end = start + query.limit
    return Page(
        items=tuple(chosen[start:end]),
        total=len(chosen),
        next_cursor=str(end) if end < len(chosen) else None,
        window_start=WINDOW_START,
        window_end=WINDOW_END,
    )


@dataclass
class FixedDaemon:
    """Implements ``monitor.api.client.DaemonApi``; ``down`` makes every call fail as a stopped
    daemon would, and ``calls`` counts the summaries asked for, for tests that wait on them."""

    vehicles_list: list[VehicleRow] = field(
        default_factory=lambda: [_vehicle(i) for i in range(1, VEHICLES + 1)]
    )
    meters_list: list[MeterRow] = field(
        default_factory=lambda: [_meter(i) for i in range(1, VEHICLES + 1)]
    )
    down: DaemonError | None = None
    calls: int = 0

    def _answer(self) -> None:
        if self.down is not None:
            raise self.down

    async def readiness(self) -> Readiness:
        self._answer()
        return Readiness(ready=True, reason=None)

    async def summary(self) -> FleetSummary:
        self._answer()
        rate = RATES[self.calls % len(RATES)]
        self.calls += 1
        vehicles = self.vehicles_list
        return FleetSummary(
            as_of=NOW + timedelta(seconds=self.calls),
            vehicles=VehicleCounts(
                total=10_000, reporting=9_950, stale=50, charging=4_200, alerts=73
            ),
            meters=MeterCounts(total=10_000, reporting=9_948, stale=52, alerts=12),
            links=9_565,
            efficiency=FleetEfficiency(
                window_start=WINDOW_START,
                window_end=WINDOW_END,
                ac_kwh=sum(row.ac_kwh_24h for row in vehicles),
                dc_kwh=sum(row.dc_kwh_24h for row in vehicles),
                ratio=0.893,
            ),
            engine=Engine(
                workers=2,
                readings_per_second=rate,
                accepted=28_800_000,
                rejected=12,
                queue_depth=(0, 3),
                flush_p50_s=0.012,
                flush_p99_s=0.041,
                database="ok",
                uptime_s=3_725.0,
            ),
        )

    async def vehicles(self, query: ListQuery) -> Page[VehicleRow]:
        self._answer()
        return _page(self.vehicles_list, query, _VEHICLE_SORTS, "vehicle_id")

    async def meters(self, query: ListQuery) -> Page[MeterRow]:
        self._answer()
        return _page(self.meters_list, query, _METER_SORTS, "meter_id")

    def _row(self, vehicle_id: str) -> VehicleRow:
        for row in self.vehicles_list:
            if row.vehicle_id == vehicle_id:
                return row
        raise NotFound("Vehicle not found")

    async def vehicle_status(self, vehicle_id: str) -> VehicleStatus:
        self._answer()
        row = self._row(vehicle_id)
        assert row.soc is not None
        assert row.battery_temp is not None
        assert row.kwh_delivered_dc is not None
        assert row.last_seen is not None
        return VehicleStatus(
            vehicle_id=vehicle_id,
            soc=row.soc,
            kwh_delivered_dc=row.kwh_delivered_dc,
            battery_temp=row.battery_temp,
            ts=row.last_seen,
            updated_at=row.last_seen + timedelta(milliseconds=40),
        )

    async def meter_status(self, meter_id: str) -> MeterStatus:
        self._answer()
        for row in self.meters_list:
            if row.meter_id == meter_id:
                assert row.voltage is not None
                assert row.kwh_consumed_ac is not None
                assert row.last_seen is not None
                return MeterStatus(
                    meter_id=meter_id,
                    kwh_consumed_ac=row.kwh_consumed_ac,
                    voltage=row.voltage,
                    ts=row.last_seen,
                    updated_at=row.last_seen,
                )
        raise NotFound("Meter not found")

    def _linked(self, vehicle_id: str) -> VehicleRow:
        row = self._row(vehicle_id)
        if row.meter_id is None:
            raise NotFound("No meter link found for this vehicle. Create a link via PUT /v1/links")
        return row

    async def performance(self, vehicle_id: str) -> Performance:
        self._answer()
        row = self._linked(vehicle_id)
        assert row.meter_id is not None
        return Performance(
            vehicle_id=vehicle_id,
            meter_id=row.meter_id,
            window_start=NOW - timedelta(hours=24),
            window_end=NOW,
            ac_kwh=row.ac_kwh_24h,
            dc_kwh=row.dc_kwh_24h,
            ratio=row.efficiency_24h,
            avg_battery_temp=row.battery_temp,
            vehicle_readings=1_440,
            meter_readings=1_438,
        )

    async def hourly(self, vehicle_id: str, hours: int = 24) -> Hourly:
        self._answer()
        row = self._linked(vehicle_id)
        assert row.meter_id is not None
        first = WINDOW_END - timedelta(hours=hours)
        entries = []
        for h in range(hours):
            charging = h % 24 in range(1, 7) or h % 24 in range(17, 21)
            ac = round(7.4 + (h % 3) * 0.8, 2) if charging else 0.0
            dc = round(ac * (0.86 + (h % 4) * 0.02), 2)
            entries.append(
                Hour(
                    start=first + timedelta(hours=h),
                    ac_kwh=ac,
                    dc_kwh=dc,
                    ratio=dc / ac if ac else None,
                    avg_battery_temp=30.0 + h % 5 if charging else None,
                    vehicle_readings=60,
                    meter_readings=60,
                )
            )
        return Hourly(vehicle_id=vehicle_id, meter_id=row.meter_id, hours=tuple(entries))


def daemon_down() -> Unreachable:
    return Unreachable("cannot connect (connection refused)")
