"""What the generator sent and what the engine acknowledged, per site and simulated minute.

Verification needs, for any window the engine reports, the sum of what was acknowledged in it,
so the ledger keeps every generated value in compact arrays (about 45 bytes per site-minute:
under 700 MB for a full day of 10,000 sites, split across processes) and one state byte per
reading: not acknowledged, acknowledged, or uncertain (the request failed in a way that may
still have stored it; such a site cannot be verified and is reported apart).
"""

from __future__ import annotations

import math
from array import array
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import IntEnum

from loadgen.simulation.fleet import MeterSample, Site, VehicleSample

MINUTE = timedelta(minutes=1)


class Kind(IntEnum):
    METER = 0
    VEHICLE = 1


class State(IntEnum):
    SENT = 0
    ACKED = 1
    UNCERTAIN = 2


@dataclass(frozen=True, slots=True)
class ExpectedStatus:
    ts: datetime
    values: dict[str, float]


@dataclass(frozen=True, slots=True)
class ExpectedPerformance:
    ac_kwh: float
    dc_kwh: float
    avg_battery_temp: float | None
    vehicle_readings: int
    meter_readings: int

    @property
    def efficiency(self) -> float | None:
        return None if self.ac_kwh == 0 else self.dc_kwh / self.ac_kwh


class _SiteBook:
    __slots__ = ("ac", "dc", "latest", "soc", "states", "temp", "voltage")

    def __init__(self) -> None:
        self.ac = array("d")
        self.voltage = array("d")
        self.dc = array("d")
        self.soc = array("d")
        self.temp = array("d")
        self.states = (bytearray(), bytearray())
        self.latest = [-1, -1]
        """Newest acknowledged minute per kind."""


class Ledger:
    def __init__(self, sites: list[Site], t0: datetime) -> None:
        self.t0 = t0
        self.sites = sites
        self._books = [_SiteBook() for _ in sites]

    def record(self, site: int, meter: MeterSample, vehicle: VehicleSample) -> int:
        """Keep a generated minute; returns its minute index."""
        book = self._books[site]
        book.ac.append(meter.kwh_consumed_ac)
        book.voltage.append(meter.voltage)
        book.dc.append(vehicle.kwh_delivered_dc)
        book.soc.append(vehicle.soc)
        book.temp.append(vehicle.battery_temp)
        for states in book.states:
            states.append(State.SENT)
        return len(book.ac) - 1

    def ts(self, minute: int) -> datetime:
        return self.t0 + minute * MINUTE

    def acked(self, site: int, minute: int, kind: Kind) -> None:
        book = self._books[site]
        book.states[kind][minute] = State.ACKED
        book.latest[kind] = max(book.latest[kind], minute)

    def uncertain(self, site: int, minute: int, kind: Kind) -> None:
        book = self._books[site]
        if book.states[kind][minute] != State.ACKED:
            book.states[kind][minute] = State.UNCERTAIN

    def status(self, site: int, kind: Kind) -> ExpectedStatus | None:
        """The newest acknowledged reading, or None when none was (or when an uncertain one is
        newer, so the engine may legitimately show either)."""
        book = self._books[site]
        newest = book.latest[kind]
        states = book.states[kind]
        if newest < 0 or State.UNCERTAIN in states[newest + 1 :]:
            return None
        if kind is Kind.METER:
            values = {"kwh_consumed_ac": book.ac[newest], "voltage": book.voltage[newest]}
        else:
            values = {
                "soc": book.soc[newest],
                "kwh_delivered_dc": book.dc[newest],
                "battery_temp": book.temp[newest],
            }
        return ExpectedStatus(self.ts(newest), values)

    def has_uncertain(self, site: int) -> bool:
        return any(State.UNCERTAIN in states for states in self._books[site].states)

    def minutes_in(self, start: datetime, end: datetime) -> range:
        """Minute indexes whose timestamps fall in ``(start, end]``."""
        first = math.floor((start - self.t0) / MINUTE) + 1
        last = math.floor((end - self.t0) / MINUTE)
        return range(max(first, 0), last + 1)

    def performance(self, site: int, start: datetime, end: datetime) -> ExpectedPerformance | None:
        """Acknowledged totals over ``(start, end]``; None if any reading there is uncertain."""
        book = self._books[site]
        meter_states, vehicle_states = book.states
        minutes = self.minutes_in(start, end)
        window = slice(minutes.start, minutes.stop)
        if State.UNCERTAIN in meter_states[window] or State.UNCERTAIN in vehicle_states[window]:
            return None
        ac = [
            book.ac[m] for m in minutes if m < len(meter_states) and meter_states[m] == State.ACKED
        ]
        vehicle = [
            m for m in minutes if m < len(vehicle_states) and vehicle_states[m] == State.ACKED
        ]
        temps = [book.temp[m] for m in vehicle]
        return ExpectedPerformance(
            ac_kwh=math.fsum(ac),
            dc_kwh=math.fsum(book.dc[m] for m in vehicle),
            avg_battery_temp=math.fsum(temps) / len(temps) if temps else None,
            vehicle_readings=len(vehicle),
            meter_readings=len(ac),
        )
