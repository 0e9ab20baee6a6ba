"""The load generator's simulated fleet: realistic, valid readings, reproducible from a seed.

One fleet of ``SITES`` sites is simulated over ``HOURS`` hours once per module (about a
second); most tests check a property of that whole trace. Charging minutes are recognised by
their energy: the model reports energy only while it charges, and the tests check the other
side of that (soc and energy move together) separately.
"""

from __future__ import annotations

import itertools
import re
from collections import Counter
from datetime import UTC, datetime, timedelta, timezone
from typing import NamedTuple

import pytest

from loadgen.simulation import fleet
from loadgen.simulation.fleet import (
    MeterSample,
    Site,
    SiteSpec,
    VehicleSample,
    build_sites,
    site_spec,
)

SEED = 20260303
START = datetime(2026, 3, 3, 0, 0, tzinfo=UTC)  # a Tuesday
SITES = 40
HOURS = 48
MINUTES = HOURS * 60
DAY = 1440

ID_RULE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,63}$")


class Trace(NamedTuple):
    spec: SiteSpec
    meters: list[MeterSample]
    vehicles: list[VehicleSample]


def simulate(sites: list[Site], minutes: int) -> list[Trace]:
    traces = [Trace(site.spec, [], []) for site in sites]
    for _ in range(minutes):
        for site, trace in zip(sites, traces, strict=True):
            meter, vehicle = site.step()
            trace.meters.append(meter)
            trace.vehicles.append(vehicle)
    return traces


def readings(seed: int, start: datetime, indices: list[int], minutes: int) -> list[Trace]:
    return simulate(build_sites(seed, start, indices), minutes)


@pytest.fixture(scope="module")
def traces() -> list[Trace]:
    return readings(SEED, START, list(range(SITES)), MINUTES)


def charging_segments(trace: Trace) -> list[tuple[int, int]]:
    """Maximal runs [first, last] of consecutive minutes with energy."""
    segments: list[tuple[int, int]] = []
    first = -1
    for i, meter in enumerate(trace.meters):
        if meter.kwh_consumed_ac > 0 and first < 0:
            first = i
        elif meter.kwh_consumed_ac == 0 and first >= 0:
            segments.append((first, i - 1))
            first = -1
    if first >= 0:
        segments.append((first, len(trace.meters) - 1))
    return segments


def decimals(value: float) -> int:
    text = repr(value)
    assert "e" not in text, text
    return len(text.split(".")[1]) if "." in text else 0


# ---------------------------------------------------------------------------------- specs


def test_specs_stay_in_their_ranges() -> None:
    specs = [site_spec(SEED, index) for index in range(2000)]
    for spec in specs:
        assert 40.0 <= spec.capacity_kwh <= 100.0
        assert spec.charger_kw in {3.7, 7.4, 11.0, 22.0}
        assert 0.85 <= spec.efficiency <= 0.93
        assert -8 * 60 <= spec.utc_offset_minutes <= 3 * 60
        assert spec.utc_offset_minutes % 60 == 0
        assert 20.0 <= spec.initial_soc <= 90.0
        assert 80.0 <= spec.target_soc <= 100.0
        assert 5.0 <= spec.ambient_c <= 30.0
        assert 0.0 < spec.plug_probability <= 1.0
        assert spec.drive_kwh_per_day > 0
    powers = Counter(spec.charger_kw for spec in specs)
    assert powers[7.4] + powers[11.0] + powers[22.0] >= 0.85 * len(specs)
    assert 0 < powers[3.7] <= 0.15 * len(specs)
    places = Counter(spec.charging_place for spec in specs)
    assert places["home"] > places["work"] > 0
    # The spread is real, not a constant.
    assert len({spec.capacity_kwh for spec in specs}) > 100
    assert len({spec.efficiency for spec in specs}) > 100
    assert len({spec.utc_offset_minutes for spec in specs}) == 12


@pytest.mark.parametrize(
    ("index", "vehicle_id", "meter_id"),
    [
        (0, "vehicle-00000", "meter-00000"),
        (42, "vehicle-00042", "meter-00042"),
        (99999, "vehicle-99999", "meter-99999"),
        (1234567, "vehicle-1234567", "meter-1234567"),
    ],
)
def test_ids_follow_the_id_rule(index: int, vehicle_id: str, meter_id: str) -> None:
    spec = site_spec(SEED, index)
    assert (spec.index, spec.vehicle_id, spec.meter_id) == (index, vehicle_id, meter_id)
    assert ID_RULE.match(spec.vehicle_id)
    assert ID_RULE.match(spec.meter_id)


def test_negative_index_is_refused() -> None:
    with pytest.raises(ValueError, match="index"):
        site_spec(SEED, -1)


@pytest.mark.parametrize(
    "start",
    [
        datetime(2026, 3, 3, 0, 0),  # naive
        datetime(2026, 3, 3, 0, 0, 30, tzinfo=UTC),
        datetime(2026, 3, 3, 0, 0, 0, 1, tzinfo=UTC),
    ],
)
def test_start_must_be_aware_and_on_a_whole_minute(start: datetime) -> None:
    with pytest.raises(ValueError, match="start"):
        Site(site_spec(SEED, 0), SEED, start)


# ----------------------------------------------------------------------------- timestamps


def test_timestamps_advance_by_one_minute_in_utc(traces: list[Trace]) -> None:
    expected = [START + timedelta(minutes=i) for i in range(MINUTES)]
    assert all(ts.tzinfo is UTC and ts.second == ts.microsecond == 0 for ts in expected)
    for trace in traces:
        assert ID_RULE.match(trace.spec.meter_id)
        assert ID_RULE.match(trace.spec.vehicle_id)
        assert [m.ts for m in trace.meters] == expected
        assert [v.ts for v in trace.vehicles] == expected
        assert all(m.ts.tzinfo is UTC for m in trace.meters)
        assert {m.meter_id for m in trace.meters} == {trace.spec.meter_id}
        assert {v.vehicle_id for v in trace.vehicles} == {trace.spec.vehicle_id}


def test_a_start_in_another_offset_yields_utc_timestamps() -> None:
    india = timezone(timedelta(hours=5, minutes=30))
    local = readings(SEED, datetime(2026, 3, 3, 5, 30, tzinfo=india), [4], 90)
    utc = readings(SEED, START, [4], 90)
    assert local == utc
    assert local[0].meters[0].ts.tzinfo is UTC
    assert local[0].meters[0].ts == START


# ---------------------------------------------------------------------------- value ranges


def test_every_value_is_in_range_and_rounded(traces: list[Trace]) -> None:
    for trace in traces:
        for meter, vehicle in zip(trace.meters, trace.vehicles, strict=True):
            ac = meter.kwh_consumed_ac
            dc = vehicle.kwh_delivered_dc
            assert 0.0 <= dc <= ac
            assert 0.0 <= vehicle.soc <= 100.0
            assert -40.0 <= vehicle.battery_temp < 60.0
            assert 0.0 <= meter.voltage <= 1000.0
            assert round(ac, 6) == ac
            assert round(dc, 6) == dc
            assert round(meter.voltage, 2) == meter.voltage
            assert round(vehicle.soc, 2) == vehicle.soc
            assert round(vehicle.battery_temp, 2) == vehicle.battery_temp


def test_values_serialise_as_short_decimals(traces: list[Trace]) -> None:
    # What a JSON encoder writes (repr) is the rounded decimal itself, not 0.30000000000000004.
    for trace in traces[:10]:
        for meter, vehicle in zip(trace.meters, trace.vehicles, strict=True):
            assert decimals(meter.kwh_consumed_ac) <= 6
            assert decimals(vehicle.kwh_delivered_dc) <= 6
            assert decimals(meter.voltage) <= 2
            assert decimals(vehicle.soc) <= 2
            assert decimals(vehicle.battery_temp) <= 2


def test_voltage_is_mostly_nominal_with_rare_sags_and_outages(traces: list[Trace]) -> None:
    volts = [meter.voltage for trace in traces for meter in trace.meters]
    nominal = sum(207.0 <= v <= 253.0 for v in volts)
    assert nominal > 0.99 * len(volts)
    outages = sum(v == 0.0 for v in volts)
    sags = sum(0.0 < v < 207.0 for v in volts)
    # 0.01 and 0.1 percent of minutes: present in 115,200 minutes, yet rare.
    assert 0 < outages < 0.0005 * len(volts)
    assert 0 < sags < 0.003 * len(volts)
    assert all(v == 0.0 or v >= 195.0 for v in volts)


def test_nothing_charges_during_an_outage(monkeypatch: pytest.MonkeyPatch) -> None:
    # Outages are too rare to land in enough charging minutes: make them common.
    monkeypatch.setattr(fleet, "OUTAGE_PROBABILITY", 0.05)
    interrupted = resumed = 0
    for trace in readings(SEED, START, list(range(20)), 720):
        for i, (meter, vehicle) in enumerate(zip(trace.meters, trace.vehicles, strict=True)):
            if meter.voltage != 0.0:
                continue
            assert meter.kwh_consumed_ac == 0.0
            assert vehicle.kwh_delivered_dc == 0.0
            if 0 < i < 719 and trace.meters[i - 1].kwh_consumed_ac > 0:
                interrupted += 1  # the car was charging: it pauses, then goes on
                after = trace.meters[i + 1]
                resumed += after.kwh_consumed_ac > 0 or after.voltage == 0.0
    assert interrupted > 20
    assert resumed >= 0.8 * interrupted


def test_voltage_dips_while_charging_at_high_power(traces: list[Trace]) -> None:
    charging: list[float] = []
    idle: list[float] = []
    for trace in traces:
        if trace.spec.charger_kw != 22.0:
            continue
        for meter in trace.meters:
            if meter.voltage >= 207.0:
                (charging if meter.kwh_consumed_ac > 0.3 else idle).append(meter.voltage)
    assert charging
    assert idle
    assert sum(charging) / len(charging) < sum(idle) / len(idle) - 1.0


def test_temperature_is_realistic(traces: list[Trace]) -> None:
    temps = [v.battery_temp for trace in traces for v in trace.vehicles]
    assert min(temps) > -10.0
    assert max(temps) < 55.0
    charging = [
        v.battery_temp
        for trace in traces
        for m, v in zip(trace.meters, trace.vehicles, strict=True)
        if m.kwh_consumed_ac > 0
    ]
    assert sum(t > 45.0 for t in charging) < 0.02 * len(charging)
    assert 15.0 <= sum(charging) / len(charging) <= 35.0


# -------------------------------------------------------------------------------- physics


def test_idle_minutes_report_exactly_zero_energy(traces: list[Trace]) -> None:
    idle = 0
    for trace in traces:
        capacity = trace.spec.capacity_kwh
        previous_soc = trace.vehicles[0].soc
        for meter, vehicle in zip(trace.meters[1:], trace.vehicles[1:], strict=True):
            ac = meter.kwh_consumed_ac
            dc = vehicle.kwh_delivered_dc
            change = vehicle.soc - previous_soc
            previous_soc = vehicle.soc
            # Energy on one side only would be a broken minute.
            assert (ac == 0.0) == (dc == 0.0)
            if change < 0:  # driving: no energy at all
                assert ac == 0.0
                assert dc == 0.0
            if ac == 0.0:  # not charging: the battery gains nothing
                idle += 1
                assert change <= 0.0
            else:  # charging: the battery gains exactly the DC energy (soc is rounded)
                assert change == pytest.approx(dc / capacity * 100.0, abs=0.0101)
    # Most minutes of a fleet are idle or away.
    assert idle > 0.6 * SITES * (MINUTES - 1)


def test_charging_never_exceeds_the_charger_and_tapers_above_80(traces: list[Trace]) -> None:
    full_power_minutes = 0
    for trace in traces:
        full = trace.spec.charger_kw / 60.0
        for i in range(1, MINUTES):
            ac = trace.meters[i].kwh_consumed_ac
            assert ac <= full
            if ac == 0.0:
                continue
            # The internal soc before this minute is at least the reported one minus rounding.
            soc = trace.vehicles[i - 1].soc - 0.005
            taper = 1.0 if soc <= 80.0 else 1.0 - 0.8 * (soc - 80.0) / 20.0
            assert ac <= full * taper + 1e-6
            if soc > 99.0:
                assert ac <= 0.25 * full
            if ac >= full - 1e-6:
                full_power_minutes += 1
    assert full_power_minutes > 1000


def test_daily_efficiency_matches_the_site(traces: list[Trace]) -> None:
    checked = 0
    for trace in traces:
        for day in range(HOURS // 24):
            window = slice(day * DAY, (day + 1) * DAY)
            ac = sum(m.kwh_consumed_ac for m in trace.meters[window])
            dc = sum(v.kwh_delivered_dc for v in trace.vehicles[window])
            if ac < 1.0:
                continue
            checked += 1
            ratio = dc / ac
            assert 0.845 <= ratio <= 0.935
            assert ratio == pytest.approx(trace.spec.efficiency, abs=0.005)
    assert checked > SITES


def test_soc_rises_while_charging(traces: list[Trace]) -> None:
    long_sessions = 0
    for trace in traces:
        for first, last in charging_segments(trace):
            socs = [v.soc for v in trace.vehicles[first : last + 1]]
            assert socs == sorted(socs)
            if last - first >= 30:
                long_sessions += 1
                assert socs[-1] > socs[0]
    assert long_sessions > SITES


def test_temperature_rises_during_a_long_charge(traces: list[Trace]) -> None:
    rises = []
    for trace in traces:
        for first, last in charging_segments(trace):
            if last - first >= 120:
                start = trace.vehicles[first].battery_temp
                end = trace.vehicles[last].battery_temp
                rises.append(end - start)
    assert len(rises) >= 20
    assert sum(rise > 0 for rise in rises) >= 0.9 * len(rises)
    assert sum(rises) / len(rises) > 3.0


def test_temperature_relaxes_toward_ambient_at_rest(traces: list[Trace]) -> None:
    checked = 0
    for trace in traces:
        spec = trace.spec
        bound = spec.ambient_swing_c + fleet.WEATHER_C + fleet.DRIVING_WARMTH_C + 1.5
        quiet = 0
        for meter, vehicle in zip(trace.meters, trace.vehicles, strict=True):
            quiet = quiet + 1 if meter.kwh_consumed_ac == 0.0 else 0
            if quiet >= 240:
                checked += 1
                assert abs(vehicle.battery_temp - spec.ambient_c) <= bound
    assert checked > 0.2 * SITES * MINUTES


def test_soc_drains_while_away_but_not_below_the_floor(traces: list[Trace]) -> None:
    drops = 0
    for trace in traces:
        socs = [v.soc for v in trace.vehicles]
        assert min(socs) >= fleet.MIN_SOC
        for before, after in itertools.pairwise(socs):
            if after < before:
                drops += 1
                assert before - after < 0.5  # driving drains a little per minute
    assert drops > 0.1 * SITES * MINUTES


def test_the_fleet_charges_every_day(traces: list[Trace]) -> None:
    charged_days: Counter[int] = Counter()
    for trace in traces:
        days = sum(
            sum(m.kwh_consumed_ac for m in trace.meters[day * DAY : (day + 1) * DAY]) > 0
            for day in range(HOURS // 24)
        )
        charged_days[days] += 1
    # Most sites charge on both (weekdays), some skip a day; the fleet as a whole charges.
    assert charged_days[HOURS // 24] >= 0.7 * SITES
    assert charged_days[0] <= 0.1 * SITES


def test_charging_happens_at_the_habitual_hours(traces: list[Trace]) -> None:
    starts = 0
    for trace in traces:
        spec = trace.spec
        for i, meter in enumerate(trace.meters):
            if meter.kwh_consumed_ac == 0.0:
                continue
            local = (i + spec.utc_offset_minutes) % DAY  # START is UTC midnight
            if spec.charging_place == "home":
                assert not 10 * 60 + 30 <= local < 15 * 60  # nobody is home at noon
            else:
                assert 6 * 60 + 30 <= local < 19 * 60 + 30  # office hours
            previous = trace.meters[i - 10 : i]
            if i >= 10 and all(m.kwh_consumed_ac == 0.0 and m.voltage > 0 for m in previous):
                starts += 1  # a plug-in: charging starts when the car arrives
                if spec.charging_place == "home":
                    assert 15 * 60 <= local <= 23 * 60 + 30
                else:
                    assert 6 * 60 + 30 <= local <= 11 * 60
    assert starts > SITES


def test_work_chargers_rest_at_the_weekend() -> None:
    work = [i for i in range(100) if site_spec(SEED, i).charging_place == "work"][:4]
    assert work
    saturday = datetime(2026, 3, 7, 0, 0, tzinfo=UTC)
    # From Saturday 00:00 UTC, skip the first 9 hours so every offset is past local midnight.
    for trace in readings(SEED, saturday, work, 2 * DAY):
        local_weekend = trace.meters[9 * 60 : 2 * DAY - 4 * 60]
        assert all(m.kwh_consumed_ac == 0.0 for m in local_weekend)


# ---------------------------------------------------------------------------- determinism


def test_same_seed_and_start_give_identical_readings(ten_sites: dict[int, Trace]) -> None:
    first = list(ten_sites.values())
    second = readings(SEED, START, list(range(10)), 300)
    assert first == second
    assert [site_spec(SEED, i) for i in range(10)] == [t.spec for t in first]


def test_a_different_seed_gives_different_readings(ten_sites: dict[int, Trace]) -> None:
    first = list(ten_sites.values())
    other = readings(SEED + 1, START, list(range(10)), 300)
    assert [t.spec for t in first] != [t.spec for t in other]
    for a, b in zip(first, other, strict=True):
        assert a.meters != b.meters
        assert a.vehicles != b.vehicles


@pytest.fixture(scope="module")
def ten_sites() -> dict[int, Trace]:
    return {t.spec.index: t for t in readings(SEED, START, list(range(10)), 300)}


@pytest.mark.parametrize("indices", [[3, 7], [7, 3], [7], [9, 8, 7, 6, 5, 4, 3]])
def test_a_site_is_the_same_in_any_subset(ten_sites: dict[int, Trace], indices: list[int]) -> None:
    for trace in readings(SEED, START, indices, 300):
        assert trace == ten_sites[trace.spec.index]


def test_sites_do_not_share_randomness() -> None:
    # Stepping one site more often must not change another one's readings.
    lone = build_sites(SEED, START, [7])[0]
    busy, neighbour = build_sites(SEED, START, [3, 7])
    for _ in range(100):
        busy.step()
        busy.step()
        assert neighbour.step() == lone.step()


def test_no_two_sites_share_their_noise(traces: list[Trace]) -> None:
    # Each site draws from its own stream: voltage noise does not repeat from site to site.
    noise = {
        tuple(round(m.voltage - t.spec.nominal_voltage, 1) for m in t.meters[:120]) for t in traces
    }
    assert len(noise) == len(traces)
