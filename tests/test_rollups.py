"""The rollups of sql/005 stay exact: per device and hour, and per device over the fleet's
24-hour window, they equal the sums of the stored history, whatever order, lateness or
repetition the readings arrived in, however many writers add to one device at once, and
whenever the window moves on.

Exactness is checked against the history itself, in SQL (``assert_rollups_exact``), and
against sums the test computes from what it posted. Sums are compared as numeric text with
trailing zeros trimmed: a replaced reading can leave a sum written ``2.00`` where the history
sums to ``2``, which is the same number.
"""

from __future__ import annotations

import random
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import pytest
import trio
from prometheus_client.parser import text_string_to_metric_families

from daemon.config import Config
from daemon.process.supervisor import Running, run
from daemon.reads.window import hour_floor
from daemon.store.database import open_store
from daemon.store.writes import FOLD_LOCK
from tests.conftest import IO_TIMEOUT_S, Postgres
from tests.support import at, eventually, meter, vehicle

# Exactness on every PostgreSQL version the daemon supports.
pytestmark = pytest.mark.every_postgres

Reading = dict[str, Any]

# Values chosen to trip float8 addition (0.1 + 0.2, 0.7 + 0.1), with many digits, tiny and
# large, and zero; all with at most 15 significant digits, so that float8::numeric is exact.
_ENERGIES = (0.1, 0.2, 0.7, 1.25, 2.0, 0.333333333333333, 999.999999, 1e-09, 0.0, 3.1)
_TEMPERATURES = (-3.2, 0.0, 25.5, 31.4, 44.9, 99.9)


@dataclass(frozen=True)
class Rollup:
    """One kind's rollups: the history table, its key and the sums kept of its columns."""

    kind: str
    key: str
    sums: dict[str, str]
    """Rollup column: history column."""


ROLLUPS = (
    Rollup("meter", "meter_id", {"ac_kwh": "kwh_consumed_ac"}),
    Rollup("vehicle", "vehicle_id", {"dc_kwh": "kwh_delivered_dc", "temp_sum": "battery_temp"}),
)


def _history_rows(r: Rollup) -> str:
    sums = ", ".join(f"{h}::numeric AS {c}" for c, h in r.sums.items())
    return (
        f"SELECT {r.key}, date_trunc('hour', ts, 'UTC') AS hour, {sums}, 1 AS readings"
        f" FROM {r.kind}_readings"
    )


def _hourly_rows(r: Rollup, *, pending: bool) -> str:
    """The hourly rollup as it stands: the folded table, plus the changes still pending."""
    columns = ", ".join((r.key, "hour", *r.sums, "readings"))
    rows = f"SELECT {columns} FROM {r.kind}_hourly"
    if pending:
        rows += f" UNION ALL SELECT {columns} FROM {r.kind}_pending_changes"
    return rows


def _window_rows(r: Rollup, *, pending: bool) -> str:
    """The window rollup as it stands: the folded table (its rows dated at the window's start,
    inside it by definition), plus the changes still pending, which count by their hour."""
    columns = ", ".join((*r.sums, "readings"))
    rows = f"SELECT {r.key}, start AS hour, {columns} FROM {r.kind}_window, fleet_window"
    if pending:
        rows += f" UNION ALL SELECT {r.key}, hour, {columns} FROM {r.kind}_pending_changes"
    return rows


def _grouped(r: Rollup, rows: str, *, window: bool) -> str:
    """``rows`` summed per device and hour, or per device over the fleet window."""
    keys = r.key if window else f"{r.key}, hour"
    inside = "hour >= start AND hour < start + interval '24 hours'" if window else "true"
    sums = ", ".join(f"trim_scale(sum({c}))::text" for c in r.sums)
    return (
        f"SELECT {keys}, {sums}, sum(readings)::text FROM ({rows}) AS u, fleet_window"
        f" WHERE {inside} GROUP BY {keys} ORDER BY {keys}"
    )


async def assert_rollups_exact(
    postgres: Postgres, database: str, *, folded_only: bool = False
) -> dict[str, int]:
    """Every rollup, per device and hour and per device over the fleet window, equals what
    the stored history says, row for row (pending changes included, or with ``folded_only``
    the folded tables alone), and the window equals the sum of the hourly rollup inside it.
    Returns how many rows each check compared, so that a caller can tell it was not vacuous."""
    pending = not folded_only
    compared: dict[str, int] = {}
    for r in ROLLUPS:
        checks = {
            f"{r.kind}_hourly": (_history_rows(r), _hourly_rows(r, pending=pending), False),
            f"{r.kind}_window": (_history_rows(r), _window_rows(r, pending=pending), True),
            f"{r.kind}_window from hours": (
                _hourly_rows(r, pending=pending),
                _window_rows(r, pending=pending),
                True,
            ),
        }
        for name, (truth, kept, window) in checks.items():
            expected = await postgres.aquery(database, _grouped(r, truth, window=window))
            stored = await postgres.aquery(database, _grouped(r, kept, window=window))
            assert stored == expected, f"{name}: stored {stored}, but should be {expected}"
            compared[name] = len(expected)
    return compared


_EFFICIENCY_KEPT = """
SELECT vehicle_id, meter_id, trim_scale(dc_kwh)::text, trim_scale(ac_kwh)::text, efficiency
FROM vehicle_efficiency ORDER BY vehicle_id
"""
_EFFICIENCY_OF_FOLDED = """
SELECT e.vehicle_id, k.meter_id, trim_scale(coalesce(w.dc_kwh, 0))::text,
       trim_scale(coalesce(m.ac_kwh, 0))::text,
       CASE WHEN m.ac_kwh > 0 THEN coalesce(w.dc_kwh, 0)::float8 / m.ac_kwh::float8 END
FROM vehicle_efficiency AS e
LEFT JOIN vehicle_window AS w ON w.vehicle_id = e.vehicle_id
LEFT JOIN vehicle_meter_links AS k ON k.vehicle_id = e.vehicle_id
LEFT JOIN meter_window AS m ON m.meter_id = k.meter_id
ORDER BY e.vehicle_id
"""
_REPORTED_WITHOUT_EFFICIENCY = """
SELECT vehicle_id FROM vehicle_latest
WHERE vehicle_id NOT IN (SELECT vehicle_id FROM vehicle_efficiency)
  AND vehicle_id NOT IN (SELECT vehicle_id FROM vehicle_pending_changes)
"""


_TOTALS_OF_FOLDED = """
SELECT total_dc_kwh = (SELECT coalesce(sum(dc_kwh), 0) FROM vehicle_window)
   AND total_ac_kwh = (SELECT coalesce(sum(ac_kwh), 0) FROM meter_window)
FROM fleet_window
"""


async def assert_efficiency_current(postgres: Postgres, database: str) -> int:
    """The kept efficiency of each vehicle (sql/009) is what its folded window sums and link
    give now, a vehicle that has reported has a row unless its changes are still pending, and
    the fleet's kept totals are the sums of the window rows. Returns how many rows it
    compared."""
    kept = await postgres.aquery(database, _EFFICIENCY_KEPT)
    assert kept == await postgres.aquery(database, _EFFICIENCY_OF_FOLDED)
    assert await postgres.aquery(database, _REPORTED_WITHOUT_EFFICIENCY) == []
    assert await postgres.aquery(database, _TOTALS_OF_FOLDED) == [["t"]]
    return len(kept)


async def assert_folded(postgres: Postgres, database: str) -> None:
    """With a daemon running: once its fold has taken every pending change, the rollup tables
    alone are exact."""

    async def drained() -> bool:
        rows = await postgres.aquery(
            database,
            "SELECT (SELECT count(*) FROM meter_pending) + (SELECT count(*) FROM vehicle_pending)",
        )
        return rows == [["0"]]

    await eventually(drained)
    await assert_rollups_exact(postgres, database, folded_only=True)
    await assert_efficiency_current(postgres, database)


async def post(client: httpx.AsyncClient, readings: Sequence[Reading]) -> None:
    """One reading as a single post, several as a batch; either way committed."""
    if len(readings) == 1:
        response = await client.post("/v1/ingest", json=readings[0])
    else:
        response = await client.post("/v1/ingest/batch", json=list(readings))
    assert response.status_code == 201, response.text


async def post_all_at_once(
    client: httpx.AsyncClient, readings: Sequence[Reading], rng: random.Random
) -> None:
    """The readings shuffled, cut into singles and batches, all posted concurrently."""
    shuffled = list(readings)
    rng.shuffle(shuffled)
    async with trio.open_nursery() as nursery:
        while shuffled:
            size = rng.choice((1, 1, 2, 5, 13))
            chunk, shuffled = shuffled[:size], shuffled[size:]
            nursery.start_soon(post, client, chunk)


def random_reading(rng: random.Random, device: str, ts: str) -> Reading:
    if device.startswith("m"):
        return meter(device, kwh=rng.choice(_ENERGIES), voltage=230.0, ts=ts)
    return vehicle(
        device,
        soc=rng.uniform(0, 100),
        kwh=rng.choice(_ENERGIES),
        temp=rng.choice(_TEMPERATURES),
        ts=ts,
    )


def kwh_of(reading: Reading) -> float:
    """A reading's energy, of either kind."""
    return float(reading["kwhConsumedAc"] if "meterId" in reading else reading["kwhDeliveredDc"])


def device_of(reading: Reading) -> str:
    return str(reading.get("meterId") or reading["vehicleId"])


def _moment(ts: str) -> datetime:
    return datetime.fromisoformat(ts)


async def clear_of_the_hour() -> None:
    """Tests that move the window themselves must not meet the daemon's own roll, which runs
    just after each hour begins: wait for the next hour if this one is about to end."""
    now = datetime.now(UTC)
    left = hour_floor(now) + timedelta(hours=1) - now
    if left < timedelta(seconds=20):
        await trio.sleep(left.total_seconds() + 5)


# --- what the window should hold, from what was posted ------------------------------------------


@dataclass
class Sums:
    energy: Decimal = Decimal(0)
    temperature: Decimal = Decimal(0)
    readings: int = 0


def _stored(posted: Iterable[Reading]) -> dict[tuple[str, str], Reading]:
    """What history keeps of readings posted one after the other: the last per key."""
    kept: dict[tuple[str, str], Reading] = {}
    for reading in posted:
        kept[device_of(reading), reading["timestamp"]] = reading
    return kept


def expected_window(posted: Iterable[Reading], start: datetime) -> dict[str, Sums]:
    sums: dict[str, Sums] = defaultdict(Sums)
    for (device, ts), reading in _stored(posted).items():
        if not start <= hour_floor(_moment(ts)) < start + timedelta(hours=24):
            continue
        total = sums[device]
        total.energy += Decimal(repr(kwh_of(reading)))
        total.temperature += Decimal(repr(reading.get("batteryTemp", 0.0)))
        total.readings += 1
    return dict(sums)


async def stored_window(postgres: Postgres, database: str) -> dict[str, Sums]:
    """Per device, what the window rollup holds now (pending changes included)."""
    held: dict[str, Sums] = {}
    for r in ROLLUPS:
        for device, *sums, readings in await postgres.aquery(
            database, _grouped(r, _window_rows(r, pending=True), window=True)
        ):
            temperature = sums[1] if len(sums) > 1 else "0"
            held[device] = Sums(Decimal(sums[0]), Decimal(temperature), int(readings))
    return held


async def counted(postgres: Postgres, database: str, *, window: bool = False) -> int:
    """Readings the hourly rollups (or the window's) count, over all devices and kinds."""
    total = 0
    for r in ROLLUPS:
        rows = _window_rows(r, pending=True) if window else _hourly_rows(r, pending=True)
        ((n,),) = await postgres.aquery(
            database,
            f"SELECT coalesce(sum(readings), 0) FROM ({rows}) AS u, fleet_window"
            + (" WHERE hour >= start AND hour < start + interval '24 hours'" if window else ""),
        )
        total += int(n)
    return total


async def window_start(postgres: Postgres, database: str) -> datetime:
    ((start,),) = await postgres.aquery(database, "SELECT start FROM fleet_window")
    return datetime.fromisoformat(start)


async def roll(postgres: Postgres, database: str, start: datetime) -> bool:
    ((rolled,),) = await postgres.aquery(
        database, f"SELECT roll_fleet_window('{start.isoformat()}')"
    )
    assert rolled in {"t", "f"}
    return rolled == "t"


# --- exactness under any arrival ----------------------------------------------------------------


async def test_rollups_equal_history_after_out_of_order_late_and_duplicate_readings(
    client: httpx.AsyncClient, postgres: Postgres, database: str
) -> None:
    rng = random.Random(2026)
    devices = [f"m-{n:02d}" for n in range(5)] + [f"v-{n:02d}" for n in range(5)]
    # Recent readings over the last five hours, one a minute ahead of the clock (within the
    # allowed skew), posted shuffled and concurrently, as singles and batches.
    recent = [
        random_reading(rng, device, at(minutes_ago=minutes))
        for device in devices
        for minutes in [-1, *rng.sample(range(300), 14)]
    ]
    await post_all_at_once(client, recent, rng)
    # Late ones: hours old, in earlier hours than all of the above, one outside the window.
    late = [
        random_reading(rng, device, at(minutes_ago=minutes, hours_ago=hours))
        for device in devices
        for hours, minutes in ((5, 7), (6, 1), (7, 30), (23, 10), (30, 0))
    ]
    await post_all_at_once(client, late, rng)
    # The same devices and timestamps again with other values: concurrently (either may win),
    # then one after the other (the last received wins), including twice in one batch.
    again = [
        random_reading(rng, device_of(r), r["timestamp"]) for r in rng.sample(recent + late, 60)
    ]
    await post_all_at_once(client, again, rng)
    replaced = rng.sample(recent + late, 20)
    final: list[Reading] = []
    for original in replaced:
        first = random_reading(rng, device_of(original), original["timestamp"])
        second = random_reading(rng, device_of(original), original["timestamp"])
        await post(client, [first])
        await post(client, [first, second])
        final.append(second)

    compared = await assert_rollups_exact(postgres, database)
    assert compared["meter_hourly"] >= 5 * 6, compared
    assert compared["vehicle_window"] == 5, compared
    distinct = {(device_of(r), r["timestamp"]) for r in recent + late}
    assert await counted(postgres, database) == len(distinct), "each reading counts once"
    await assert_folded(postgres, database)
    # The last received won in history, and so in the sums above.
    for reading in final:
        column = "kwh_consumed_ac" if "meterId" in reading else "kwh_delivered_dc"
        table, key = ("meter", "meter_id") if "meterId" in reading else ("vehicle", "vehicle_id")
        value = kwh_of(reading)
        stored = await postgres.aquery(
            database,
            f"SELECT {column} FROM {table}_readings"
            f" WHERE {key} = '{device_of(reading)}' AND ts = '{reading['timestamp']}'",
        )
        assert [[float(text) for text in row] for row in stored] == [[value]]


async def _replaced_total(client: httpx.AsyncClient) -> tuple[float, float]:
    """This daemon's accepted and replaced readings, from its /metrics."""
    families = {
        family.name: family
        for family in text_string_to_metric_families((await client.get("/metrics")).text)
    }

    def total(name: str) -> float:
        return sum(s.value for s in families[name].samples if s.name == name + "_total")

    return total("ingest_readings_accepted"), total("ingest_readings_replaced")


async def test_two_daemons_writing_the_same_readings_at_once_keep_rollups_exact(
    config: Config, postgres: Postgres, database: str
) -> None:
    """Two whole daemons on one database: the same devices and timestamps reach two writers
    at once, each resent with other values, round after round."""
    rng = random.Random(18)
    devices = [f"m-{n:02d}" for n in range(6)] + [f"v-{n:02d}" for n in range(6)]
    stamps = [at(minutes_ago=minutes) for minutes in rng.sample(range(600), 30)]
    rounds = 6
    async with trio.open_nursery() as nursery:
        first: Running = await nursery.start(run, config)
        second: Running = await nursery.start(run, config)
        async with (
            httpx.AsyncClient(base_url=first.url, timeout=IO_TIMEOUT_S) as one,
            httpx.AsyncClient(base_url=second.url, timeout=IO_TIMEOUT_S) as other,
        ):
            last: dict[tuple[str, str], set[float]] = {}
            for _ in range(rounds):
                posted: dict[tuple[str, str], set[float]] = defaultdict(set)
                async with trio.open_nursery() as writers:
                    for http in (one, other):
                        readings = [random_reading(rng, d, ts) for d in devices for ts in stamps]
                        for r in readings:
                            posted[device_of(r), r["timestamp"]].add(kwh_of(r))
                        # Big batches (one statement each, overlapping the other daemon's)
                        # and singles.
                        writers.start_soon(post, http, readings[:200])
                        writers.start_soon(post, http, readings[200:])
                        for r in rng.sample(readings, 10):
                            writers.start_soon(post, http, [r])
                last = posted
            accepted_one, replaced_one = await _replaced_total(one)
            accepted_other, replaced_other = await _replaced_total(other)
            await assert_rollups_exact(postgres, database)
            # Both daemons fold pending changes: neither takes one the other took.
            await assert_folded(postgres, database)
        first.stop.set()
        second.stop.set()

    await assert_rollups_exact(postgres, database)
    keys = len(devices) * len(stamps)
    rows = await postgres.aquery(
        database,
        "SELECT (SELECT count(*) FROM meter_readings) + (SELECT count(*) FROM vehicle_readings)",
    )
    assert rows == [[str(keys)]]
    assert await counted(postgres, database) == keys
    assert await counted(postgres, database, window=True) == keys
    # Whatever order the two writers committed in, the stored value is one of the last round.
    stored = await postgres.aquery(
        database,
        "SELECT meter_id, ts, kwh_consumed_ac FROM meter_readings"
        " UNION ALL SELECT vehicle_id, ts, kwh_delivered_dc FROM vehicle_readings",
    )
    wanted = {(device, _moment(ts)): values for (device, ts), values in last.items()}
    for device, ts, value in stored:
        assert float(value) in wanted[device, datetime.fromisoformat(ts)], (device, ts, value)
    # Each daemon counted what it accepted; together they replaced all but the first of each.
    posted_per_daemon = rounds * (keys + 10)
    assert (accepted_one, accepted_other) == (posted_per_daemon, posted_per_daemon)
    assert replaced_one + replaced_other == 2 * posted_per_daemon - keys


# --- the window moves on ------------------------------------------------------------------------


def _spread(rng: random.Random, devices: Sequence[str], now: datetime) -> list[Reading]:
    """Readings in most hours of the last day and a bit, one of each device at ``now``."""
    readings = []
    for device in devices:
        for hours in (0, 1, 2, 5, 11, 17, 21, 22, 23, 24, 26):
            moment = now - timedelta(hours=hours, minutes=rng.randrange(60) if hours else 0)
            readings.append(random_reading(rng, device, moment.isoformat().replace("+00:00", "Z")))
    return readings


async def _assert_window(
    postgres: Postgres, database: str, posted: Sequence[Reading], start: datetime
) -> None:
    assert await window_start(postgres, database) == start
    assert await stored_window(postgres, database) == expected_window(posted, start)
    await assert_rollups_exact(postgres, database)
    await assert_efficiency_current(postgres, database)


async def test_roll_one_hour_several_hours_and_past_a_day(
    client: httpx.AsyncClient, postgres: Postgres, database: str
) -> None:
    await clear_of_the_hour()
    rng = random.Random(5)
    posted = _spread(rng, ["m-a", "m-b", "v-a", "v-b"], datetime.now(UTC))
    await post_all_at_once(client, posted, rng)
    start = await window_start(postgres, database)
    assert start == hour_floor(datetime.now(UTC)) - timedelta(hours=23)
    await _assert_window(postgres, database, posted, start)
    before = await stored_window(postgres, database)

    assert not await roll(postgres, database, start), "already there"
    assert not await roll(postgres, database, start - timedelta(hours=1)), "never back"
    assert await stored_window(postgres, database) == before
    for step in (timedelta(hours=1), timedelta(hours=3), timedelta(hours=19)):
        start += step
        assert await roll(postgres, database, start)
        await _assert_window(postgres, database, posted, start)
    assert await stored_window(postgres, database), "the newest hours are still in the window"
    # More than a day on: nothing of the old window remains, and nothing has entered.
    start += timedelta(hours=25)
    assert await roll(postgres, database, start)
    await _assert_window(postgres, database, posted, start)
    assert await stored_window(postgres, database) == {}
    assert not await roll(postgres, database, start - timedelta(minutes=1))

    # Writers go on adding to the window where it now is: nothing of the present.
    more = [random_reading(rng, "v-a", at()), random_reading(rng, "m-c", at(minutes_ago=3))]
    await post_all_at_once(client, more, rng)
    await _assert_window(postgres, database, [*posted, *more], start)
    assert await stored_window(postgres, database) == {}


async def test_readings_ahead_of_the_window_enter_when_it_rolls(
    client: httpx.AsyncClient, postgres: Postgres, database: str
) -> None:
    """A window that has not caught up (the daemon was stopped, or a roll is late) leaves
    readings of later hours out, and takes them in as it moves on, readings a little ahead of
    the clock (the allowed skew) included."""
    await clear_of_the_hour()
    rng = random.Random(11)
    # Three hours behind, before anything was written (so the window's sums are right for it).
    behind = (await window_start(postgres, database)) - timedelta(hours=3)
    await postgres.aquery(database, f"UPDATE fleet_window SET start = '{behind.isoformat()}'")
    now = datetime.now(UTC)
    this_hour = hour_floor(now)
    devices = ["m-1", "m-2", "v-1", "v-2"]

    def stamp(moment: datetime) -> str:
        return moment.isoformat().replace("+00:00", "Z")

    posted = [
        random_reading(rng, device, stamp(moment))
        for device in devices
        for moment in (
            this_hour - timedelta(hours=5) + timedelta(minutes=20),  # inside
            this_hour - timedelta(hours=2) + timedelta(minutes=40),  # ahead by one hour
            this_hour - timedelta(hours=1) + timedelta(minutes=5),  # ahead by two
            now - timedelta(seconds=1),  # this hour: ahead by three
            now + timedelta(minutes=4),  # ahead of the clock: this hour or the next
        )
    ]
    await post_all_at_once(client, posted, rng)
    await _assert_window(postgres, database, posted, behind)
    held = await stored_window(postgres, database)
    assert {sums.readings for sums in held.values()} == {1}, "only the reading 5 hours old"

    for hours, counts in ((1, {2}), (2, {3}), (3, {4, 5})):
        assert await roll(postgres, database, behind + timedelta(hours=hours))
        await _assert_window(postgres, database, posted, behind + timedelta(hours=hours))
        held = await stored_window(postgres, database)
        assert set(held) == set(devices)
        assert {sums.readings for sums in held.values()} <= counts
    # One more hour takes in the reading ahead of the clock, wherever it landed.
    assert await roll(postgres, database, behind + timedelta(hours=4))
    await _assert_window(postgres, database, posted, behind + timedelta(hours=4))
    assert {s.readings for s in (await stored_window(postgres, database)).values()} == {5}


async def test_window_rolls_while_writers_add_to_it(
    client: httpx.AsyncClient, postgres: Postgres, database: str
) -> None:
    """Rolls land between and during flushes that add to hours leaving and entering the
    window; every reading is still counted once."""
    await clear_of_the_hour()
    rng = random.Random(3)
    devices = [f"m-{n}" for n in range(4)] + [f"v-{n}" for n in range(4)]
    start = await window_start(postgres, database)
    posted: list[Reading] = []

    async def write() -> None:
        for _ in range(12):
            readings = [
                random_reading(rng, d, at(minutes_ago=rng.randrange(60 * 26)))
                for d in devices
                for _ in range(8)
            ]
            posted.extend(readings)
            await post_all_at_once(client, readings, rng)

    async def move() -> None:
        for hours in range(1, 9):
            assert await roll(postgres, database, start + timedelta(hours=hours))

    async with trio.open_nursery() as nursery:
        nursery.start_soon(write)
        nursery.start_soon(move)

    compared = await assert_rollups_exact(postgres, database)
    assert compared["meter_window"] == 4, compared
    assert await window_start(postgres, database) == start + timedelta(hours=8)
    distinct = {(device_of(r), r["timestamp"]) for r in posted}
    assert await counted(postgres, database) == len(distinct)
    await assert_folded(postgres, database)


async def test_the_rollups_hour_is_the_utc_hour(postgres: Postgres, database: str) -> None:
    """The fold dates a change by ``utc_hour`` (sql/010, a fifteenth of date_trunc's cost by
    time-zone name): the same hour for instants on and around hour boundaries, before and
    after the origin it counts from, in a session whose time zone is half an hour off UTC."""
    async with open_store(postgres.url(database), pooler=False, max_connections=1):
        pass
    rows = await postgres.aquery(
        database,
        "SET timezone = 'Asia/Kolkata';"
        " SELECT count(*) FILTER (WHERE utc_hour(ts) <> date_trunc('hour', ts, 'UTC')),"
        " count(*)"
        " FROM (SELECT generate_series(timestamptz '1999-12-31 21:00+00',"
        "                              timestamptz '2000-01-01 03:00+00', interval '59.5 s')"
        "       UNION ALL SELECT generate_series(now() - interval '2 days', now(),"
        "                                        interval '599.999999 s')"
        "       UNION ALL SELECT timestamptz '2026-11-27 10:00:00+00' + d * interval '1 us'"
        "       FROM generate_series(-2, 2) AS d) AS t (ts)",
    )
    different, compared = rows[0]
    assert (different, int(compared) > 600) == ("0", True), rows


async def test_a_fold_that_finds_another_running_takes_nothing(
    postgres: Postgres, database: str
) -> None:
    """Folds of several workers ran at once and deadlocked now and then; now one runs at a
    time, and one that finds another running leaves every change to it."""
    change = "INSERT INTO meter_pending VALUES (ARRAY['m-1'], ARRAY[now()], ARRAY[1.5], 1)"
    pending = "SELECT count(*) FROM meter_pending"
    async with open_store(postgres.url(database), pooler=False, max_connections=2) as store:
        await postgres.aquery(database, change)
        other_fold = (
            f"BEGIN; SELECT pg_advisory_xact_lock(hashtext('{FOLD_LOCK}'));"
            " SELECT pg_sleep(2); COMMIT;"
        )
        async with trio.open_nursery() as nursery:
            nursery.start_soon(postgres.aquery, database, other_fold)

            async def other_fold_running() -> bool:
                held = await postgres.aquery(
                    database,
                    "SELECT count(*) FROM pg_locks JOIN pg_database AS d ON d.oid = database"
                    " WHERE locktype = 'advisory' AND granted AND datname = current_database()",
                )
                return held == [["1"]]

            await eventually(other_fold_running)
            assert await store.fold_rollups() == 0
            assert await postgres.aquery(database, pending) == [["1"]]
            # The window's roll waits for the same lock (sql/009 names its key).
            migration = Path(__file__).parents[1] / "sql" / "009_folded_fleet_reads.sql"
            assert f"pg_advisory_xact_lock(hashtext('{FOLD_LOCK}'))" in migration.read_text()
        assert await store.fold_rollups() == 1
        assert await postgres.aquery(database, pending) == [["0"]]
