"""The daemon's answers (docs/api.md) as frozen dataclasses, parsed strictly from decoded JSON.

Standard library only. Parsing checks every field the monitor uses and ignores the rest, since
the contract allows additive fields; anything else unexpected (a missing field, a string where
a number is due, a timestamp without an offset) raises ``BadAnswer`` naming the field, so a
daemon that drifted from the contract shows up as one sentence instead of a traceback.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Generic, Literal, TypedDict, TypeVar

from monitor.api.errors import BadAnswer

Order = Literal["asc", "desc"]
Row_co = TypeVar("Row_co", covariant=True)
_T = TypeVar("_T")


@dataclass(frozen=True, slots=True)
class Readiness:
    ready: bool
    reason: str | None


@dataclass(frozen=True, slots=True)
class VehicleCounts:
    total: int
    reporting: int
    stale: int
    charging: int
    alerts: int


@dataclass(frozen=True, slots=True)
class MeterCounts:
    total: int
    reporting: int
    stale: int
    alerts: int


@dataclass(frozen=True, slots=True)
class FleetEfficiency:
    window_start: datetime
    window_end: datetime
    ac_kwh: float
    dc_kwh: float
    ratio: float | None


@dataclass(frozen=True, slots=True)
class Engine:
    workers: int
    readings_per_second: float
    accepted: int
    rejected: int
    queue_depth: tuple[int, ...]
    flush_p50_s: float | None
    flush_p99_s: float | None
    database: str
    uptime_s: float


@dataclass(frozen=True, slots=True)
class FleetSummary:
    as_of: datetime
    vehicles: VehicleCounts
    meters: MeterCounts
    links: int
    efficiency: FleetEfficiency
    engine: Engine


@dataclass(frozen=True, slots=True)
class VehicleRow:
    vehicle_id: str
    meter_id: str | None
    soc: float | None
    battery_temp: float | None
    kwh_delivered_dc: float | None
    last_seen: datetime | None
    dc_kwh_24h: float
    ac_kwh_24h: float
    efficiency_24h: float | None
    alerts: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class MeterRow:
    meter_id: str
    voltage: float | None
    kwh_consumed_ac: float | None
    last_seen: datetime | None
    ac_kwh_24h: float
    alerts: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Page(Generic[Row_co]):
    items: tuple[Row_co, ...]
    total: int
    next_cursor: str | None
    window_start: datetime
    window_end: datetime


@dataclass(frozen=True, slots=True)
class ListQuery:
    """One request for a page of a fleet list; equal queries ask for the same rows."""

    sort: str = "id"
    order: Order = "asc"
    q: str = ""
    alerts_only: bool = False
    limit: int = 100
    cursor: str | None = None

    def params(self) -> dict[str, str]:
        params = {"limit": str(self.limit), "sort": self.sort, "order": self.order}
        if self.cursor is not None:
            params["cursor"] = self.cursor
        if self.q:
            params["q"] = self.q
        if self.alerts_only:
            params["alerts"] = "true"
        return params


@dataclass(frozen=True, slots=True)
class VehicleStatus:
    vehicle_id: str
    soc: float
    kwh_delivered_dc: float
    battery_temp: float
    ts: datetime
    updated_at: datetime


@dataclass(frozen=True, slots=True)
class MeterStatus:
    meter_id: str
    kwh_consumed_ac: float
    voltage: float
    ts: datetime
    updated_at: datetime


@dataclass(frozen=True, slots=True)
class Performance:
    vehicle_id: str
    meter_id: str
    window_start: datetime
    window_end: datetime
    ac_kwh: float
    dc_kwh: float
    ratio: float | None
    avg_battery_temp: float | None
    vehicle_readings: int
    meter_readings: int


@dataclass(frozen=True, slots=True)
class Hour:
    start: datetime
    ac_kwh: float
    dc_kwh: float
    ratio: float | None
    avg_battery_temp: float | None
    vehicle_readings: int
    meter_readings: int


@dataclass(frozen=True, slots=True)
class Hourly:
    vehicle_id: str
    meter_id: str
    hours: tuple[Hour, ...]


class _Object:
    """One JSON object being read, with its path in the body for the error messages."""

    def __init__(self, value: object, path: str) -> None:
        if not isinstance(value, dict):
            raise BadAnswer(f"{path} is {_kind(value)}, not an object")
        self._fields: dict[str, object] = value
        self._path = path

    def _at(self, name: str) -> str:
        return f"{self._path}.{name}"

    def _get(self, name: str) -> object:
        if name not in self._fields:
            raise BadAnswer(f"{self._at(name)} is missing")
        return self._fields[name]

    def _optional(self, name: str, read: Callable[[str], _T]) -> _T | None:
        """Absent and null both mean "no value": the contract writes null, a later daemon may
        leave the field out."""
        return None if self._fields.get(name) is None else read(name)

    def text(self, name: str) -> str:
        value = self._get(name)
        if not isinstance(value, str):
            raise BadAnswer(f"{self._at(name)} is {_kind(value)}, not a string")
        return value

    def number(self, name: str) -> float:
        value = self._get(name)
        if (
            isinstance(value, bool)
            or not isinstance(value, int | float)
            or not math.isfinite(value)
        ):
            raise BadAnswer(f"{self._at(name)} is {_kind(value)}, not a number")
        return float(value)

    def count(self, name: str) -> int:
        return _count(self._get(name), self._at(name))

    def time(self, name: str) -> datetime:
        text = self.text(name)
        try:
            moment = datetime.fromisoformat(text)
        except ValueError:
            raise BadAnswer(f"{self._at(name)} is not an RFC 3339 time: {text[:40]!r}") from None
        if moment.tzinfo is None:
            raise BadAnswer(f"{self._at(name)} has no UTC offset: {text[:40]!r}")
        return moment

    def optional_text(self, name: str) -> str | None:
        return self._optional(name, self.text)

    def optional_number(self, name: str) -> float | None:
        return self._optional(name, self.number)

    def optional_time(self, name: str) -> datetime | None:
        return self._optional(name, self.time)

    def child(self, name: str) -> _Object:
        return _Object(self._get(name), self._at(name))

    def array(self, name: str) -> list[object]:
        value = self._get(name)
        if not isinstance(value, list):
            raise BadAnswer(f"{self._at(name)} is {_kind(value)}, not a list")
        return value

    def objects(self, name: str) -> list[_Object]:
        return [_Object(item, f"{self._at(name)}[{i}]") for i, item in enumerate(self.array(name))]

    def counts(self, name: str) -> tuple[int, ...]:
        return tuple(
            _count(item, f"{self._at(name)}[{i}]") for i, item in enumerate(self.array(name))
        )

    def texts(self, name: str) -> tuple[str, ...]:
        texts: list[str] = []
        for i, item in enumerate(self.array(name)):
            if not isinstance(item, str):
                raise BadAnswer(f"{self._at(name)}[{i}] is {_kind(item)}, not a string")
            texts.append(item)
        return tuple(texts)


def _count(value: object, path: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise BadAnswer(f"{path} is {_kind(value)}, not a count")
    return value


def _kind(value: object) -> str:
    """How a wrong value is named in a message: its JSON type, and the value when short."""
    if value is None:
        return "null"
    names = {bool: "a boolean", str: "a string", list: "a list", dict: "an object"}
    name = names.get(type(value), "a number")
    shown = repr(value)
    return f"{name} ({shown})" if len(shown) <= 20 and not isinstance(value, list | dict) else name


def readiness(status: int, body: object) -> Readiness:
    fields = _Object(body, "body")
    state = fields.text("status")
    if status == 200 and state == "ready":
        return Readiness(ready=True, reason=None)
    if status == 503 and state == "not_ready":
        return Readiness(ready=False, reason=fields.optional_text("reason"))
    raise BadAnswer(f"/readyz answered {status} with status {state[:40]!r}")


def summary(body: object) -> FleetSummary:
    fields = _Object(body, "body")
    vehicles = fields.child("vehicles")
    meters = fields.child("meters")
    efficiency = fields.child("fleetEfficiency")
    engine = fields.child("engine")
    flush = engine.child("flushSeconds")
    return FleetSummary(
        as_of=fields.time("asOf"),
        vehicles=VehicleCounts(
            total=vehicles.count("total"),
            reporting=vehicles.count("reporting"),
            stale=vehicles.count("stale"),
            charging=vehicles.count("charging"),
            alerts=vehicles.count("alerts"),
        ),
        meters=MeterCounts(
            total=meters.count("total"),
            reporting=meters.count("reporting"),
            stale=meters.count("stale"),
            alerts=meters.count("alerts"),
        ),
        links=fields.count("links"),
        efficiency=FleetEfficiency(
            window_start=efficiency.time("windowStart"),
            window_end=efficiency.time("windowEnd"),
            ac_kwh=efficiency.number("totalEnergyConsumedAc"),
            dc_kwh=efficiency.number("totalEnergyDeliveredDc"),
            ratio=efficiency.optional_number("efficiencyRatio"),
        ),
        engine=Engine(
            workers=engine.count("workers"),
            readings_per_second=engine.number("readingsPerSecond"),
            accepted=engine.count("accepted"),
            rejected=engine.count("rejected"),
            queue_depth=engine.counts("queueDepth"),
            flush_p50_s=flush.optional_number("p50"),
            flush_p99_s=flush.optional_number("p99"),
            database=engine.text("database"),
            uptime_s=engine.number("uptimeSeconds"),
        ),
    )


def _vehicle_row(item: _Object) -> VehicleRow:
    return VehicleRow(
        vehicle_id=item.text("vehicleId"),
        meter_id=item.optional_text("meterId"),
        soc=item.optional_number("soc"),
        battery_temp=item.optional_number("batteryTemp"),
        kwh_delivered_dc=item.optional_number("kwhDeliveredDc"),
        last_seen=item.optional_time("lastSeen"),
        dc_kwh_24h=item.number("dcKwh24h"),
        ac_kwh_24h=item.number("acKwh24h"),
        efficiency_24h=item.optional_number("efficiency24h"),
        alerts=item.texts("alerts"),
    )


def _meter_row(item: _Object) -> MeterRow:
    return MeterRow(
        meter_id=item.text("meterId"),
        voltage=item.optional_number("voltage"),
        kwh_consumed_ac=item.optional_number("kwhConsumedAc"),
        last_seen=item.optional_time("lastSeen"),
        ac_kwh_24h=item.number("acKwh24h"),
        alerts=item.texts("alerts"),
    )


def _page(body: object, row: Callable[[_Object], Row_co]) -> Page[Row_co]:
    fields = _Object(body, "body")
    return Page(
        items=tuple(row(item) for item in fields.objects("items")),
        total=fields.count("total"),
        next_cursor=fields.optional_text("nextCursor"),
        window_start=fields.time("windowStart"),
        window_end=fields.time("windowEnd"),
    )


def vehicle_page(body: object) -> Page[VehicleRow]:
    return _page(body, _vehicle_row)


def meter_page(body: object) -> Page[MeterRow]:
    return _page(body, _meter_row)


def vehicle_status(body: object) -> VehicleStatus:
    fields = _Object(body, "body")
    return VehicleStatus(
        vehicle_id=fields.text("vehicle_id"),
        soc=fields.number("soc"),
        kwh_delivered_dc=fields.number("kwh_delivered_dc"),
        battery_temp=fields.number("battery_temp"),
        ts=fields.time("ts"),
        updated_at=fields.time("updated_at"),
    )


def meter_status(body: object) -> MeterStatus:
    fields = _Object(body, "body")
    return MeterStatus(
        meter_id=fields.text("meter_id"),
        kwh_consumed_ac=fields.number("kwh_consumed_ac"),
        voltage=fields.number("voltage"),
        ts=fields.time("ts"),
        updated_at=fields.time("updated_at"),
    )


class _Figures(TypedDict):
    """What the analytics answer and each of its hours report alike, by the same names."""

    ac_kwh: float
    dc_kwh: float
    ratio: float | None
    avg_battery_temp: float | None
    vehicle_readings: int
    meter_readings: int


def _figures(fields: _Object) -> _Figures:
    return _Figures(
        ac_kwh=fields.number("totalEnergyConsumedAc"),
        dc_kwh=fields.number("totalEnergyDeliveredDc"),
        ratio=fields.optional_number("efficiencyRatio"),
        avg_battery_temp=fields.optional_number("avgBatteryTemp"),
        vehicle_readings=fields.count("vehicleReadings"),
        meter_readings=fields.count("meterReadings"),
    )


def performance(body: object) -> Performance:
    fields = _Object(body, "body")
    return Performance(
        vehicle_id=fields.text("vehicleId"),
        meter_id=fields.text("meterId"),
        window_start=fields.time("windowStart"),
        window_end=fields.time("windowEnd"),
        **_figures(fields),
    )


def _hour(item: _Object) -> Hour:
    return Hour(start=item.time("hourStart"), **_figures(item))


def hourly(body: object) -> Hourly:
    fields = _Object(body, "body")
    return Hourly(
        vehicle_id=fields.text("vehicleId"),
        meter_id=fields.text("meterId"),
        hours=tuple(_hour(item) for item in fields.objects("hours")),
    )


def error_message(body: object) -> str | None:
    """The sentence of the contract's error shape, if the body has one."""
    if isinstance(body, dict):
        message = body.get("message")
        if isinstance(message, str) and message:
            return message
    return None
