"""The simulated fleet: one vehicle and the meter of its charger per site, one minute per step.

Pure: no I/O, no clock, no async. Every random draw comes from a ``random.Random`` seeded from
the fleet seed and the site index (and, for the daily plug-in habits, the site's local day), so
a site's readings depend only on ``(seed, index, start)``: several processes can each simulate
a disjoint subset of one fleet and together produce exactly what one process would.

The model, per simulated minute:

- A vehicle is plugged in for one session per local day (most at home from the evening to the
  next morning, some at work during weekdays) and away in between. Away, it drives: its state of
  charge drains evenly over the away time, never below ``MIN_SOC``. Some drivers skip days.
- Plugged in, below the session's target and with the grid up, it charges: AC energy is the
  charger's power for one minute, tapering linearly above 80 percent down to 20 percent at 100;
  DC energy is AC times the site's efficiency with a little noise, so DC never exceeds AC.
  Every other minute reports exactly zero energy on both sides.
- Battery temperature relaxes toward the ambient temperature (site mean, a daily swing peaking
  at 15:00 local, a little weather per day), toward a few degrees above it while driving and
  toward ambient plus a power-dependent rise while charging.
- Voltage is the site's nominal voltage with noise, a dip while charging at high power, rare
  sags and very rare outages (0 V, during which nothing charges).
"""

from __future__ import annotations

import math
import random
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Final, Literal

__all__ = [
    "MeterSample",
    "Site",
    "SiteSpec",
    "VehicleSample",
    "build_sites",
    "site_spec",
]

MINUTES_PER_DAY: Final = 1440
ONE_MINUTE: Final = timedelta(minutes=1)

CHARGER_KW: Final = (3.7, 7.4, 11.0, 22.0)
CHARGER_WEIGHTS: Final = (5, 45, 35, 15)
MAX_CHARGER_KW: Final = 22.0

MIN_SOC: Final = 5.0
"""Driving never drains a battery below this (the driver just comes home earlier)."""
TAPER_START_SOC: Final = 80.0
TAPER_FLOOR: Final = 0.2
"""Fraction of full power left at 100 percent; linear from ``TAPER_START_SOC`` down to it."""
SOC_EPSILON: Final = 0.005
"""A session stops charging this close to its target (no zero-energy "charging" minutes)."""

EFFICIENCY_NOISE: Final = 0.005
EFFICIENCY_MIN: Final = 0.80
EFFICIENCY_MAX: Final = 0.99

OUTAGE_PROBABILITY: Final = 0.0001
SAG_PROBABILITY: Final = 0.001
SAG_LOW_V: Final = 195.0
SAG_HIGH_V: Final = 210.0
VOLTAGE_NOISE_V: Final = 0.02 * 230.0
"""Half-width of the (triangular) voltage noise: plus or minus 2 percent of 230 V."""
CHARGING_DIP_V: Final = 4.0
"""Voltage drop at the meter while charging at 22 kW (proportionally less at lower power)."""

WEATHER_C: Final = 2.0
"""Day-to-day weather: the ambient mean moves by up to this much per session."""
DRIVING_WARMTH_C: Final = 2.0
IDLE_RATE: Final = 1.0 / 90.0
"""Per-minute relaxation toward ambient at rest (time constant 90 minutes)."""
DRIVING_RATE: Final = 1.0 / 45.0
CHARGING_RATE_LOW: Final = 1.0 / 200.0
CHARGING_RATE_HIGH: Final = 1.0 / 60.0
"""Per-minute approach to the charging temperature at zero and at 22 kW (linear between)."""
TEMP_NOISE_C: Final = 0.05
TEMP_MIN_C: Final = -40.0
TEMP_MAX_C: Final = 100.0

SEARCH_DAYS: Final = 60
"""How far ahead to look for a plug-in session before giving up for a day."""

# Shape of the daily ambient swing: +1 at 15:00 local, -1 at 03:00 local.
_DIURNAL: Final = tuple(
    math.cos(2.0 * math.pi * (minute - 15 * 60) / MINUTES_PER_DAY)
    for minute in range(MINUTES_PER_DAY)
)

# (habit low, habit high, per-day standard deviation, clamp low, clamp high), local minutes.
_HOME_ARRIVE: Final = (17 * 60, 21 * 60, 40.0, 15 * 60, 23 * 60 + 30)
_HOME_DEPART: Final = (6 * 60, 9 * 60, 25.0, 5 * 60, 10 * 60 + 30)
_WORK_ARRIVE: Final = (7 * 60 + 30, 9 * 60 + 30, 20.0, 6 * 60 + 30, 11 * 60)
_WORK_DEPART: Final = (16 * 60, 18 * 60 + 30, 30.0, 14 * 60, 19 * 60 + 30)


@dataclass(frozen=True, slots=True)
class MeterSample:
    meter_id: str
    ts: datetime
    """Timezone-aware UTC, on a whole minute."""
    kwh_consumed_ac: float
    voltage: float


@dataclass(frozen=True, slots=True)
class VehicleSample:
    vehicle_id: str
    ts: datetime
    soc: float
    kwh_delivered_dc: float
    battery_temp: float


@dataclass(frozen=True, slots=True)
class SiteSpec:
    """What does not change about a site: its hardware and its owner's habits."""

    index: int
    vehicle_id: str
    meter_id: str
    capacity_kwh: float
    """Usable battery capacity, 40 to 100."""
    charger_kw: float
    """AC power of the charger: 7.4, 11 or 22 mostly, 3.7 occasionally."""
    efficiency: float
    """Grid-to-battery efficiency, 0.85 to 0.93 (each minute adds noise of +-0.005)."""
    utc_offset_minutes: int
    """Home time zone: local time = UTC + this, whole hours from -8 to +3."""
    charging_place: Literal["home", "work"]
    """Home: plugged in from the evening to the next morning, every day. Work: plugged in
    during the working day, Monday to Friday (local)."""
    arrive_minute: int
    """Usual plug-in time, minutes after local midnight (each day varies around it)."""
    depart_minute: int
    """Usual unplug time, minutes after local midnight (the next day for home charging)."""
    plug_probability: float
    """Chance of plugging in on a given day (1.0 for most sites)."""
    target_soc: float
    """Usual charge limit, 80 to 100 (each session varies around it, within 80..100)."""
    initial_soc: float
    """State of charge at the start of the simulation, 20 to 90."""
    drive_kwh_per_day: float
    """Battery energy used driving on a typical day, spread over the time away."""
    ambient_c: float
    """Mean ambient temperature, 5 to 28 C."""
    ambient_swing_c: float
    """Amplitude of the daily ambient swing (peak at 15:00 local), 2 to 5 C."""
    temp_rise_c: float
    """How far above ambient the battery heads while charging at 22 kW, 15 to 20 C
    (at 7.4 kW two thirds of that)."""
    nominal_voltage: float
    """The site's usual voltage, 225 to 235 V."""


@dataclass(frozen=True, slots=True)
class _Session:
    start: int
    """Absolute UTC minute (minutes since the epoch) of plugging in."""
    end: int
    """Absolute UTC minute of unplugging (the first minute away)."""
    target_soc: float
    drive_factor: float
    """Scales the driving of the away time before this session."""
    weather_c: float


def _habit(rng: random.Random, habit: tuple[int, int, float, int, int]) -> int:
    low, high, _sd, _clamp_low, _clamp_high = habit
    return rng.randint(low, high)


def _today(rng: random.Random, mean: int, habit: tuple[int, int, float, int, int]) -> int:
    _low, _high, sd, clamp_low, clamp_high = habit
    return min(clamp_high, max(clamp_low, round(rng.gauss(mean, sd))))


def site_spec(seed: int, index: int, prefix: str = "") -> SiteSpec:
    """The spec of site ``index`` of the fleet ``seed``; a pure function of both. ``prefix``
    goes before the device ids, so that runs against one engine need not share devices."""
    if index < 0:
        raise ValueError(f"site index must be >= 0, got {index}")
    rng = random.Random(f"{seed}:{index}")
    capacity_kwh = round(rng.uniform(40.0, 100.0), 1)
    charger_kw = rng.choices(CHARGER_KW, weights=CHARGER_WEIGHTS)[0]
    efficiency = round(rng.uniform(0.85, 0.93), 4)
    utc_offset_minutes = rng.randint(-8, 3) * 60
    charging_place: Literal["home", "work"] = "work" if rng.random() < 0.15 else "home"
    if charging_place == "home":
        arrive_minute = _habit(rng, _HOME_ARRIVE)
        depart_minute = _habit(rng, _HOME_DEPART)
    else:
        arrive_minute = _habit(rng, _WORK_ARRIVE)
        depart_minute = _habit(rng, _WORK_DEPART)
    plug_probability = 1.0 if rng.random() < 0.75 else round(rng.uniform(0.5, 0.95), 3)
    target_soc = rng.choice((80.0, 85.0, 90.0, 95.0, 100.0))
    initial_soc = round(rng.uniform(20.0, 90.0), 2)
    drive_kwh_per_day = round(rng.uniform(3.0, 18.0), 2)
    ambient_c = round(rng.uniform(5.0, 28.0), 1)
    ambient_swing_c = round(rng.uniform(2.0, 5.0), 1)
    temp_rise_c = round(rng.uniform(15.0, 20.0), 1)
    nominal_voltage = round(rng.uniform(225.0, 235.0), 1)
    return SiteSpec(
        index=index,
        vehicle_id=f"{prefix}vehicle-{index:05d}",
        meter_id=f"{prefix}meter-{index:05d}",
        capacity_kwh=capacity_kwh,
        charger_kw=charger_kw,
        efficiency=efficiency,
        utc_offset_minutes=utc_offset_minutes,
        charging_place=charging_place,
        arrive_minute=arrive_minute,
        depart_minute=depart_minute,
        plug_probability=plug_probability,
        target_soc=target_soc,
        initial_soc=initial_soc,
        drive_kwh_per_day=drive_kwh_per_day,
        ambient_c=ambient_c,
        ambient_swing_c=ambient_swing_c,
        temp_rise_c=temp_rise_c,
        nominal_voltage=nominal_voltage,
    )


class Site:
    """One vehicle and the meter of its charger; advances one simulated minute per step()."""

    __slots__ = (
        "_ambient_base",
        "_change_at",
        "_charger_per_min",
        "_drain",
        "_max_ac",
        "_minute",
        "_plugged",
        "_rand",
        "_seed",
        "_soc",
        "_target",
        "_temp",
        "_ts",
        "spec",
    )

    spec: SiteSpec

    def __init__(self, spec: SiteSpec, seed: int, start: datetime) -> None:
        """``start`` must be timezone-aware and on a whole minute (any offset; samples are UTC)."""
        if start.tzinfo is None or start.utcoffset() is None:
            raise ValueError("start must be timezone-aware")
        if start.second or start.microsecond:
            raise ValueError("start must be on a whole minute")
        self.spec = spec
        self._seed = seed
        self._ts = start.astimezone(UTC)
        self._minute = int(self._ts.timestamp()) // 60
        self._rand = random.Random(f"{seed}:{spec.index}:minutes").random
        self._charger_per_min = spec.charger_kw / 60.0
        # The largest 6-decimal value not above the charger's energy per minute.
        self._max_ac = math.floor(self._charger_per_min * 1e6) / 1e6
        self._soc = float(spec.initial_soc)
        self._ambient_base = spec.ambient_c
        self._plugged = False
        self._target = 0.0
        self._drain = 0.0
        self._change_at = self._minute
        self._transition(self._minute)
        local = (self._minute + spec.utc_offset_minutes) % MINUTES_PER_DAY
        ambient = self._ambient_base + spec.ambient_swing_c * _DIURNAL[local]
        self._temp = ambient + (self._rand() - 0.5) * 2.0

    def _session(self, day: int) -> _Session | None:
        """The plug-in session starting on local day ``day`` (days since 1970-01-01), if any."""
        spec = self.spec
        rng = random.Random(f"{self._seed}:{spec.index}:day:{day}")
        plugs = rng.random() < spec.plug_probability
        if spec.charging_place == "home":
            arrive = _today(rng, spec.arrive_minute, _HOME_ARRIVE)
            depart = _today(rng, spec.depart_minute, _HOME_DEPART) + MINUTES_PER_DAY
        else:
            arrive = _today(rng, spec.arrive_minute, _WORK_ARRIVE)
            depart = _today(rng, spec.depart_minute, _WORK_DEPART)
            plugs = plugs and (day + 3) % 7 < 5  # 1970-01-01 was a Thursday; no weekends
        target = rng.uniform(max(80.0, spec.target_soc - 5.0), min(100.0, spec.target_soc + 5.0))
        drive_factor = rng.uniform(0.5, 1.5)
        weather = rng.uniform(-WEATHER_C, WEATHER_C)
        if not plugs:
            return None
        midnight = day * MINUTES_PER_DAY - spec.utc_offset_minutes
        return _Session(midnight + arrive, midnight + depart, target, drive_factor, weather)

    def _transition(self, minute: int) -> None:
        """Find what the vehicle does from ``minute`` on and until when."""
        spec = self.spec
        first_day = (minute + spec.utc_offset_minutes) // MINUTES_PER_DAY - 1
        session = None
        for day in range(first_day, first_day + SEARCH_DAYS):
            candidate = self._session(day)
            if candidate is not None and candidate.end > minute:
                session = candidate
                break
        if session is None:  # never plugs in for two months: drive on, look again tomorrow
            self._plugged = False
            self._change_at = minute + MINUTES_PER_DAY
            self._drain = self._drain_per_minute(1.0)
            return
        self._ambient_base = spec.ambient_c + session.weather_c
        if session.start <= minute:
            self._plugged = True
            self._target = session.target_soc
            self._change_at = session.end
        else:
            self._plugged = False
            self._change_at = session.start
            self._drain = self._drain_per_minute(session.drive_factor)

    def _drain_per_minute(self, factor: float) -> float:
        """Percent of state of charge driven away per minute away from the charger."""
        spec = self.spec
        if spec.charging_place == "home":
            away = spec.arrive_minute - spec.depart_minute
        else:
            away = MINUTES_PER_DAY - (spec.depart_minute - spec.arrive_minute)
        return spec.drive_kwh_per_day * factor / away / spec.capacity_kwh * 100.0

    def _charge(self, ambient: float) -> tuple[float, float, float]:
        """One minute of charging: (AC kWh, DC kWh, fraction of 22 kW), rounded, DC <= AC."""
        spec = self.spec
        soc = self._soc
        ac = self._charger_per_min
        if soc > TAPER_START_SOC:
            ac *= 1.0 - (1.0 - TAPER_FLOOR) * (soc - TAPER_START_SOC) / (100.0 - TAPER_START_SOC)
        efficiency = spec.efficiency + (self._rand() - 0.5) * (2.0 * EFFICIENCY_NOISE)
        efficiency = min(EFFICIENCY_MAX, max(EFFICIENCY_MIN, efficiency))
        dc = ac * efficiency
        room = (self._target - soc) / 100.0 * spec.capacity_kwh
        if dc > room:  # the last minute of the session: only what is left
            dc = room
            ac = room / efficiency
        ac = min(round(ac, 6), self._max_ac)
        dc = min(round(dc, 6), ac)
        self._soc = min(100.0, soc + dc / spec.capacity_kwh * 100.0)
        power_fraction = ac * 60.0 / MAX_CHARGER_KW
        heat_to = ambient + spec.temp_rise_c * (0.5 + 0.5 * power_fraction)
        rate = CHARGING_RATE_LOW + (CHARGING_RATE_HIGH - CHARGING_RATE_LOW) * power_fraction
        self._temp += (heat_to - self._temp) * rate
        return ac, dc, power_fraction

    def step(self) -> tuple[MeterSample, VehicleSample]:
        """The readings of the next minute (the first call returns the minute `start`,
        then start+1min, ...). Both samples carry the same ts."""
        minute = self._minute
        if minute >= self._change_at:
            self._transition(minute)
        spec = self.spec
        rand = self._rand
        local = (minute + spec.utc_offset_minutes) % MINUTES_PER_DAY
        ambient = self._ambient_base + spec.ambient_swing_c * _DIURNAL[local]
        grid = rand()
        ac = 0.0
        dc = 0.0
        power_fraction = 0.0
        if self._plugged:
            if grid >= OUTAGE_PROBABILITY and self._soc < self._target - SOC_EPSILON:
                ac, dc, power_fraction = self._charge(ambient)
            else:
                self._temp += (ambient - self._temp) * IDLE_RATE
        else:
            if self._soc > MIN_SOC:
                self._soc = max(MIN_SOC, self._soc - self._drain)
            self._temp += (ambient + DRIVING_WARMTH_C - self._temp) * DRIVING_RATE
        soc = self._soc
        temp = self._temp

        if grid < OUTAGE_PROBABILITY:
            voltage = 0.0
        elif grid < OUTAGE_PROBABILITY + SAG_PROBABILITY:
            voltage = SAG_LOW_V + (SAG_HIGH_V - SAG_LOW_V) * (
                (grid - OUTAGE_PROBABILITY) / SAG_PROBABILITY
            )
        else:
            voltage = (
                spec.nominal_voltage
                + (rand() + rand() - 1.0) * VOLTAGE_NOISE_V
                - CHARGING_DIP_V * power_fraction
            )
        # round(x * 100) / 100 is the double nearest to a two-decimal number, like round(x, 2),
        # at a third of the cost (energies, rounded above, only on charging minutes).
        reported_temp = round((temp + (rand() - 0.5) * (2.0 * TEMP_NOISE_C)) * 100.0) / 100.0
        if not TEMP_MIN_C <= reported_temp <= TEMP_MAX_C:  # out of reach of realistic specs
            reported_temp = TEMP_MIN_C if reported_temp < TEMP_MIN_C else TEMP_MAX_C
        reported_soc = round(soc * 100.0) / 100.0
        if not 0.0 <= reported_soc <= 100.0:  # soc stays within MIN_SOC..100; a cheap guard
            reported_soc = 0.0 if reported_soc < 0.0 else 100.0

        ts = self._ts
        self._ts = ts + ONE_MINUTE
        self._minute = minute + 1
        return (
            MeterSample(spec.meter_id, ts, ac, round(voltage * 100.0) / 100.0),
            VehicleSample(spec.vehicle_id, ts, reported_soc, dc, reported_temp),
        )


def build_sites(seed: int, start: datetime, indices: Iterable[int], prefix: str = "") -> list[Site]:
    """Sites for the given indices; site i is the same whatever other indices are asked for,
    so several processes can each simulate a disjoint subset of one fleet."""
    return [Site(site_spec(seed, index, prefix), seed, start) for index in indices]
