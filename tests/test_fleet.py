"""The fleet views over HTTP (API.md, "Fleet views"): the summary's every figure, the alert
rules at their boundaries, sorting and keyset paging through every page, the filters, the
parameters refused, and the 24-hour and hourly figures agreeing exactly with the analytics
endpoint after out-of-order, late and duplicate readings."""

from __future__ import annotations

import base64
import dataclasses
import json
import random
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import httpx
import pytest
import trio

from daemon.config import Config
from daemon.process.supervisor import Running, run
from tests.conftest import IO_TIMEOUT_S, Postgres
from tests.support import assert_error, meter, vehicle
from tests.test_rollups import (
    Reading,
    assert_efficiency_current,
    assert_rollups_exact,
    clear_of_the_hour,
    device_of,
    kwh_of,
    post,
    post_all_at_once,
    random_reading,
)


def stamp(moment: datetime) -> str:
    """A reading's timestamp as a device writes it (microseconds, ``Z``)."""
    return moment.astimezone(UTC).isoformat(timespec="microseconds").replace("+00:00", "Z")


def ago(*, minutes: float = 0.0, hours: float = 0.0, base: datetime | None = None) -> str:
    return stamp((base or datetime.now(UTC)) - timedelta(minutes=minutes, hours=hours))


def wire_time(ts: str) -> str:
    """How the API writes a reading's timestamp back: milliseconds and ``Z``."""
    return ts[:23] + "Z"


def hour_of(ts: str) -> datetime:
    return datetime.fromisoformat(ts).replace(minute=0, second=0, microsecond=0)


def energy(reading: Reading) -> Decimal:
    return Decimal(repr(kwh_of(reading)))


async def link(client: httpx.AsyncClient, vehicle_id: str, meter_id: str) -> None:
    response = await client.put("/v1/links", json={"vehicleId": vehicle_id, "meterId": meter_id})
    assert response.status_code == 200, response.text


async def get_json(client: httpx.AsyncClient, path: str, **params: str) -> dict[str, Any]:
    response = await client.get(path, params=params)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("application/json")
    body: dict[str, Any] = response.json()
    return body


async def every_page(
    client: httpx.AsyncClient, path: str, **params: str
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """All items of a list, page after page through ``nextCursor``; and the pages."""
    pages: list[dict[str, Any]] = []
    cursor: str | None = None
    while True:
        page = await get_json(client, path, **params, **({"cursor": cursor} if cursor else {}))
        pages.append(page)
        assert len(page["items"]) <= int(params.get("limit", "100"))
        cursor = page["nextCursor"]
        if cursor is None:
            break
        assert isinstance(cursor, str)
        assert page["items"], "a page with a next one is not empty"
        assert len(pages) <= 1000, "paging does not end"
    items = [item for page in pages for item in page["items"]]
    return items, pages


def by_id(items: Sequence[dict[str, Any]], key: str) -> dict[str, dict[str, Any]]:
    found = {item[key]: item for item in items}
    assert len(found) == len(items), "no device is listed twice"
    return found


def assert_window(body: dict[str, Any]) -> tuple[datetime, datetime]:
    """The hour-aligned 24-hour window a body states."""
    start = datetime.fromisoformat(body["windowStart"])
    end = datetime.fromisoformat(body["windowEnd"])
    assert body["windowStart"].endswith(":00:00.000Z")
    assert end - start == timedelta(hours=24)
    return start, end


# --- the summary ----------------------------------------------------------------------------


async def test_summary_counts_every_figure(client: httpx.AsyncClient) -> None:
    now = datetime.now(UTC)
    readings = [
        # Reporting and charging; its 24-hour efficiency is exactly 1 (0.1 + 0.2 over 0.3).
        vehicle("v-charging", kwh=0.2, ts=ago(minutes=10, base=now)),
        vehicle("v-charging", kwh=0.1, ts=ago(base=now)),
        meter("m-a", kwh=0.2, voltage=230, ts=ago(minutes=15, base=now)),
        meter("m-a", kwh=0.1, voltage=230, ts=ago(base=now)),
        # Reporting, not charging; its meter is at 0 V and consumed nothing: no ratio.
        vehicle("v-idle", kwh=0.0, ts=ago(base=now)),
        meter("m-c", kwh=0.0, voltage=0, ts=ago(base=now)),
        # Neither reporting (2 minutes) nor stale (5 minutes); charging.
        vehicle("v-middle", kwh=2.0, ts=ago(minutes=3.5, base=now)),
        # Stale, and charging by its latest reading.
        vehicle("v-stale", kwh=0.5, ts=ago(minutes=10, base=now)),
        # A hot battery.
        vehicle("v-hot", kwh=0.0, temp=46, ts=ago(base=now)),
        # Its latest reading delivers nothing; an older one, sent after it, did.
        vehicle("v-was-charging", kwh=0.0, ts=ago(base=now)),
        meter("m-b", kwh=2.0, voltage=253.1, ts=ago(base=now)),
        meter("m-d", kwh=0.7, voltage=230, ts=ago(minutes=10, base=now)),
    ]
    await post(client, readings[:6])
    for reading in readings[6:]:
        await post(client, [reading])
    late = vehicle("v-was-charging", kwh=5.0, ts=ago(minutes=20, base=now))
    await post(client, [late])
    readings.append(late)
    await link(client, "v-charging", "m-a")
    await link(client, "v-idle", "m-c")
    await link(client, "v-never-reported", "m-b")
    assert_error(await client.post("/v1/ingest", json={**meter(), "voltage": -1}), 400)

    body = await get_json(client, "/v1/fleet/summary")
    assert set(body) == {"asOf", "vehicles", "meters", "links", "fleetEfficiency", "engine"}
    assert body["vehicles"] == {
        "total": 6,
        "reporting": 4,
        "stale": 1,
        "charging": 3,
        "alerts": 2,
    }
    assert body["meters"] == {"total": 4, "reporting": 3, "stale": 1, "alerts": 3}
    assert body["links"] == 3

    efficiency = body["fleetEfficiency"]
    dc = float(sum(energy(r) for r in readings if "vehicleId" in r))
    ac = float(sum(energy(r) for r in readings if "meterId" in r))
    assert efficiency["totalEnergyDeliveredDc"] == dc == 7.8
    assert efficiency["totalEnergyConsumedAc"] == ac == 3.0
    assert efficiency["efficiencyRatio"] == dc / ac
    start, end = assert_window(efficiency)
    as_of = datetime.fromisoformat(body["asOf"])
    assert body["asOf"].endswith("Z")
    assert start <= as_of < end

    engine = body["engine"]
    assert set(engine) >= {
        "workers",
        "readingsPerSecond",
        "accepted",
        "rejected",
        "queueDepth",
        "flushSeconds",
        "database",
        "uptimeSeconds",
    }
    assert engine["workers"] == 1
    assert engine["accepted"] == len(readings)
    assert engine["rejected"] == 1
    assert isinstance(engine["readingsPerSecond"], int | float)
    assert engine["readingsPerSecond"] >= 0
    assert isinstance(engine["queueDepth"], list)
    assert len(engine["queueDepth"]) == 3, "one per shard writer"
    assert all(isinstance(d, int) and d >= 0 for d in engine["queueDepth"])
    flush = engine["flushSeconds"]
    assert set(flush) == {"p50", "p99"}
    assert isinstance(flush["p50"], float)
    assert isinstance(flush["p99"], float)
    assert 0 < flush["p50"] <= flush["p99"]
    assert engine["database"] == "ok"
    assert isinstance(engine["uptimeSeconds"], int | float)
    assert engine["uptimeSeconds"] >= 0

    # The lists apply the same definitions.
    vehicles = await get_json(client, "/v1/fleet/vehicles", alerts="true")
    assert vehicles["total"] == 2
    assert {v["vehicleId"] for v in vehicles["items"]} == {"v-stale", "v-hot"}
    meters = await get_json(client, "/v1/fleet/meters", alerts="true")
    assert {m["meterId"]: m["alerts"] for m in meters["items"]} == {
        "m-b": ["voltage_out_of_range"],
        "m-c": ["outage"],
        "m-d": ["stale"],
    }


async def test_summary_of_an_empty_fleet(client: httpx.AsyncClient) -> None:
    body = await get_json(client, "/v1/fleet/summary")
    assert body["vehicles"] == {"total": 0, "reporting": 0, "stale": 0, "charging": 0, "alerts": 0}
    assert body["meters"] == {"total": 0, "reporting": 0, "stale": 0, "alerts": 0}
    assert body["links"] == 0
    efficiency = body["fleetEfficiency"]
    assert efficiency["totalEnergyConsumedAc"] == 0
    assert efficiency["totalEnergyDeliveredDc"] == 0
    assert efficiency["efficiencyRatio"] is None
    assert body["engine"]["accepted"] == 0
    assert body["engine"]["flushSeconds"] == {"p50": None, "p99": None}
    empty = await get_json(client, "/v1/fleet/vehicles")
    assert (empty["items"], empty["total"], empty["nextCursor"]) == ([], 0, None)
    assert_window(empty)


# --- alert rules at their boundaries ------------------------------------------------------------


@dataclass(frozen=True)
class Case:
    dc: Sequence[float] = (1.0,)
    ac: Sequence[float] | None = None
    """The linked meter's readings; None: no link."""
    temp: float = 30.0
    minutes_ago: float = 0.0
    alerts: Sequence[str] = ()
    efficiency: float | None = None


VEHICLE_CASES = {
    # 0.7 + 0.1 is 0.7999999999999999 in float8: only exact sums keep this at 0.80.
    "e-080": Case(dc=(0.7, 0.1), ac=(1.0,), efficiency=0.8),
    "e-low": Case(dc=(0.7999,), ac=(1.0,), alerts=["efficiency_low"], efficiency=0.7999),
    # Exactly 1.0 (the AC's float8 sum would be just under 0.8 and the ratio just over 1).
    "e-100": Case(dc=(0.8,), ac=(0.7, 0.1), efficiency=1.0),
    "e-high": Case(dc=(1.0001,), ac=(1.0,), alerts=["efficiency_high"], efficiency=1.0001),
    "e-no-ac": Case(dc=(5.0,), ac=(0.0, 0.0)),
    "e-no-link": Case(dc=(5.0,)),
    "e-no-dc": Case(dc=(0.0,), ac=(2.0,), alerts=["efficiency_low"], efficiency=0.0),
    "t-45": Case(temp=45.0),
    "t-hot": Case(temp=45.1, alerts=["battery_hot"]),
    "s-fresh": Case(minutes_ago=4),
    "s-stale": Case(minutes_ago=6, alerts=["stale"]),
    "all-three": Case(
        dc=(2.0,),
        ac=(1.0,),
        temp=50,
        minutes_ago=10,
        alerts=["stale", "efficiency_high", "battery_hot"],
        efficiency=2.0,
    ),
}


async def test_vehicle_alerts_at_their_boundaries(client: httpx.AsyncClient) -> None:
    now = datetime.now(UTC)
    readings: list[Reading] = []
    latest: dict[str, str] = {}
    for name, case in VEHICLE_CASES.items():
        # The latest reading carries the case's temperature and age; earlier ones the rest.
        for n, kwh in enumerate(reversed(case.dc)):
            ts = ago(minutes=case.minutes_ago + 10 * n, base=now)
            latest.setdefault(name, ts)
            readings.append(vehicle(name, soc=40 + n, kwh=kwh, temp=case.temp, ts=ts))
        if case.ac is not None:
            await link(client, name, f"m-{name}")
            readings += [
                meter(f"m-{name}", kwh=kwh, ts=ago(minutes=1 + n, base=now))
                for n, kwh in enumerate(case.ac)
            ]
    await post_all_at_once(client, readings, random.Random(1))

    items, _ = await every_page(client, "/v1/fleet/vehicles", limit="5")
    listed = by_id(items, "vehicleId")
    assert set(listed) == set(VEHICLE_CASES)
    for name, case in VEHICLE_CASES.items():
        item = listed[name]
        assert set(item) == {
            "vehicleId",
            "meterId",
            "soc",
            "batteryTemp",
            "kwhDeliveredDc",
            "lastSeen",
            "dcKwh24h",
            "acKwh24h",
            "efficiency24h",
            "alerts",
        }
        assert item["alerts"] == list(case.alerts), name
        assert item["efficiency24h"] == case.efficiency, name
        assert item["meterId"] == (None if case.ac is None else f"m-{name}")
        assert item["dcKwh24h"] == float(sum(Decimal(repr(x)) for x in case.dc)), name
        assert item["acKwh24h"] == float(sum(Decimal(repr(x)) for x in case.ac or ())), name
        assert (item["soc"], item["batteryTemp"]) == (40, case.temp)
        assert item["kwhDeliveredDc"] == case.dc[-1]
        assert item["lastSeen"] == wire_time(latest[name])

    alerting = await get_json(client, "/v1/fleet/vehicles", alerts="true")
    expected = sorted(name for name, case in VEHICLE_CASES.items() if case.alerts)
    assert [item["vehicleId"] for item in alerting["items"]] == expected
    assert alerting["total"] == len(expected)
    summary = await get_json(client, "/v1/fleet/summary")
    assert summary["vehicles"]["alerts"] == len(expected)
    assert summary["vehicles"]["stale"] == 2


METER_CASES: dict[str, tuple[float, float, list[str]]] = {
    # id: (voltage, minutes old, alerts)
    "m-207": (207.0, 0, []),
    "m-253": (253.0, 0, []),
    "m-206.9": (206.9, 0, ["voltage_out_of_range"]),
    "m-253.1": (253.1, 0, ["voltage_out_of_range"]),
    "m-0v": (0.0, 0, ["outage"]),
    "m-1v": (1.0, 0, ["voltage_out_of_range"]),
    "m-fresh": (230.0, 4, []),
    "m-stale": (230.0, 6, ["stale"]),
    "m-stale-0v": (0.0, 10, ["stale", "outage"]),
}


async def test_meter_alerts_at_their_boundaries(client: httpx.AsyncClient) -> None:
    now = datetime.now(UTC)
    readings = [
        meter(name, kwh=0.5, voltage=voltage, ts=ago(minutes=minutes, base=now))
        for name, (voltage, minutes, _) in METER_CASES.items()
    ]
    await post(client, readings)
    # An older outage, sent last, does not become the latest state.
    await post(client, [meter("m-207", kwh=0.25, voltage=0, ts=ago(minutes=30, base=now))])

    items, _ = await every_page(client, "/v1/fleet/meters", limit="2")
    listed = by_id(items, "meterId")
    assert set(listed) == set(METER_CASES)
    for reading in readings:
        item = listed[reading["meterId"]]
        assert set(item) == {
            "meterId",
            "voltage",
            "kwhConsumedAc",
            "lastSeen",
            "acKwh24h",
            "alerts",
        }
        assert item["alerts"] == METER_CASES[reading["meterId"]][2], item
        assert item["voltage"] == reading["voltage"]
        assert item["kwhConsumedAc"] == 0.5
        assert item["lastSeen"] == wire_time(reading["timestamp"])
        assert item["acKwh24h"] == (0.75 if reading["meterId"] == "m-207" else 0.5)

    alerting, _ = await every_page(client, "/v1/fleet/meters", alerts="true", limit="1")
    expected = sorted(name for name, (_, _, alerts) in METER_CASES.items() if alerts)
    assert [item["meterId"] for item in alerting] == expected


# --- sorting and paging ---------------------------------------------------------------------------


@dataclass
class Fleet:
    """Vehicles posted for the sort tests, with what each sort key should be."""

    soc: dict[str, float] = field(default_factory=dict)
    temp: dict[str, float] = field(default_factory=dict)
    seen: dict[str, datetime] = field(default_factory=dict)
    efficiency: dict[str, Decimal | None] = field(default_factory=dict)


# id: soc, battery temperature, which of four moments, DC readings, AC readings (None: no link;
# an empty list: a linked meter that never reported).
_SORTABLE: dict[str, tuple[float, float, int, list[float], list[float] | None]] = {
    "v-00": (50.0, 30.0, 0, [0.5], [1.0]),
    "v-01": (50.0, 25.5, 1, [1.0], [2.0]),
    "v-02": (10.0, 46.0, 2, [0.7, 0.1], [1.0]),
    "v-03": (90.0, 30.0, 0, [1.0], None),
    "v-04": (90.0, -5.0, 3, [0.0], [1.5]),
    "v-05": (0.0, 30.0, 1, [1.2], [1.0]),
    "v-06": (100.0, 45.0, 2, [3.0], [0.0]),
    "v-07": (50.0, 25.5, 3, [0.9], None),
    "v-08": (33.3, 99.9, 0, [0.25], [1.0]),
    "v-09": (10.0, 0.0, 1, [0.5, 0.5], [2.0]),
    "v-10": (66.6, 30.0, 2, [0.9], [1.0]),
    "v-11": (50.0, 12.0, 3, [2.4], [2.0]),
    "v-12": (75.0, 40.0, 0, [1.0], []),
    "v-13": (20.0, 30.0, 1, [0.0], [0.0]),
}


async def _sortable_fleet(client: httpx.AsyncClient) -> Fleet:
    now = datetime.now(UTC)
    moments = [now - timedelta(seconds=s) for s in (1, 20, 40, 50)]
    fleet = Fleet()
    readings: list[Reading] = []
    for name, (soc, temp, moment, dc, ac) in _SORTABLE.items():
        seen = moments[moment]
        for n, kwh in enumerate(reversed(dc)):
            readings.append(
                vehicle(name, soc=soc, temp=temp, kwh=kwh, ts=stamp(seen - timedelta(hours=n)))
            )
        fleet.soc[name], fleet.temp[name], fleet.seen[name] = soc, temp, seen
        fleet.efficiency[name] = None
        if ac is not None:
            await link(client, name, f"m-{name[2:]}")
            readings += [
                meter(f"m-{name[2:]}", kwh=kwh, ts=ago(minutes=5 * n, base=now))
                for n, kwh in enumerate(ac)
            ]
            total_ac = sum(Decimal(repr(x)) for x in ac)
            if total_ac:
                fleet.efficiency[name] = sum(Decimal(repr(x)) for x in dc) / total_ac
    await post_all_at_once(client, readings, random.Random(4))
    return fleet


def _expected_order(values: dict[str, Any], descending: bool) -> list[str]:
    """By value then id, both in the order asked; missing values last in either order."""
    present = sorted((value, name) for name, value in values.items() if value is not None)
    missing = sorted(name for name, value in values.items() if value is None)
    if descending:
        present.reverse()
        missing.reverse()
    return [name for _, name in present] + missing


_VEHICLE_SORTS: dict[str, Callable[[Fleet], dict[str, Any]]] = {
    "id": lambda fleet: {name: name for name in fleet.soc},
    "soc": lambda fleet: fleet.soc,
    "batteryTemp": lambda fleet: fleet.temp,
    "lastSeen": lambda fleet: fleet.seen,
    "efficiency": lambda fleet: fleet.efficiency,
}


@pytest.mark.parametrize("sort", list(_VEHICLE_SORTS))
async def test_vehicles_sort_and_page_through_every_page(
    client: httpx.AsyncClient, sort: str
) -> None:
    fleet = await _sortable_fleet(client)
    values = _VEHICLE_SORTS[sort](fleet)
    if sort != "id":
        assert len(set(values.values())) < len(values), "ties, to be broken by id"
    for order, limit in (("asc", "4"), ("desc", "3"), ("asc", "1"), ("desc", "500")):
        items, pages = await every_page(
            client, "/v1/fleet/vehicles", sort=sort, order=order, limit=limit
        )
        got = [item["vehicleId"] for item in items]
        assert got == _expected_order(values, order == "desc"), (sort, order, limit)
        assert {page["total"] for page in pages} == {len(_SORTABLE)}
        assert len(pages) == -(-len(_SORTABLE) // int(limit))
    default = await get_json(client, "/v1/fleet/vehicles", sort=sort)
    assert [i["vehicleId"] for i in default["items"]] == _expected_order(values, False)
    assert (default["total"], default["nextCursor"]) == (len(_SORTABLE), None)
    assert_window(default)
    if sort == "id":
        unsorted = await get_json(client, "/v1/fleet/vehicles")
        assert unsorted["items"] == default["items"], "id is the default"


async def test_a_page_deep_in_the_list_ignores_rows_added_before_it(
    client: httpx.AsyncClient,
) -> None:
    await _sortable_fleet(client)
    first = await get_json(client, "/v1/fleet/vehicles", limit="5")
    # New vehicles sort before the cursor: the next pages neither repeat nor skip.
    await post(client, [vehicle("v-000"), vehicle("v-001")])
    items = first["items"]
    cursor = first["nextCursor"]
    while cursor is not None:
        page = await get_json(client, "/v1/fleet/vehicles", limit="5", cursor=cursor)
        items += page["items"]
        cursor = page["nextCursor"]
    assert [item["vehicleId"] for item in items] == sorted(_SORTABLE)


_METERS: dict[str, tuple[float, int]] = {
    # id: voltage, which of three moments
    "m-00": (230.0, 0),
    "m-01": (0.0, 1),
    "m-02": (230.0, 2),
    "m-03": (253.1, 0),
    "m-04": (207.0, 1),
    "m-05": (230.0, 1),
    "m-06": (0.0, 0),
    "m-07": (241.5, 2),
    "m-08": (999.9, 2),
    "m-09": (207.0, 0),
    "m-10": (1.5, 1),
}


@pytest.mark.parametrize("sort", ["id", "voltage", "lastSeen"])
async def test_meters_sort_and_page_through_every_page(
    client: httpx.AsyncClient, sort: str
) -> None:
    now = datetime.now(UTC)
    moments = [now - timedelta(seconds=s) for s in (1, 30, 45)]
    readings = [
        meter(name, voltage=voltage, ts=stamp(moments[moment]))
        for name, (voltage, moment) in _METERS.items()
    ]
    await post_all_at_once(client, readings, random.Random(9))
    by_sort: dict[str, dict[str, Any]] = {
        "id": {name: name for name in _METERS},
        "voltage": {name: voltage for name, (voltage, _) in _METERS.items()},
        "lastSeen": {name: moments[moment] for name, (_, moment) in _METERS.items()},
    }
    values = by_sort[sort]
    for order, limit in (("asc", "3"), ("desc", "4"), ("desc", "1"), ("asc", "11")):
        items, pages = await every_page(
            client, "/v1/fleet/meters", sort=sort, order=order, limit=limit
        )
        assert [item["meterId"] for item in items] == _expected_order(values, order == "desc")
        assert {page["total"] for page in pages} == {len(_METERS)}
        assert len(pages) == -(-len(_METERS) // int(limit))


# --- filters and parameters -----------------------------------------------------------------


async def test_q_is_a_case_insensitive_contains_and_combines_with_alerts(
    client: httpx.AsyncClient,
) -> None:
    names = ["Fleet-A.1", "fleet-b_2", "FLEET:c3", "other-fleet", "car_9", "flee-t"]
    await post(
        client,
        [vehicle(name, temp=50 if "b" in name else 30) for name in names]
        + [meter(f"M{name}", voltage=0) for name in names],
    )
    for q, expected in (
        ("fleet", ["FLEET:c3", "Fleet-A.1", "fleet-b_2", "other-fleet"]),
        ("LEET-", ["Fleet-A.1", "fleet-b_2"]),
        ("_", ["car_9", "fleet-b_2"]),  # an underscore, not a wildcard
        ("%", []),
        ("a.1", ["Fleet-A.1"]),
        ("nothing", []),
    ):
        items, pages = await every_page(client, "/v1/fleet/vehicles", q=q, limit="2")
        assert sorted(item["vehicleId"] for item in items) == sorted(expected), q
        assert {page["total"] for page in pages} == {len(expected)}, q
    hot = await get_json(client, "/v1/fleet/vehicles", q="FLEET", alerts="true")
    assert [item["vehicleId"] for item in hot["items"]] == ["fleet-b_2"]
    assert hot["total"] == 1
    every = await get_json(client, "/v1/fleet/vehicles", alerts="false")
    assert every["total"] == len(names)
    meters = await get_json(client, "/v1/fleet/meters", q="mfleet", alerts="true")
    assert sorted(item["meterId"] for item in meters["items"]) == sorted(
        ["MFleet-A.1", "Mfleet-b_2", "MFLEET:c3"]
    )


async def test_total_counts_the_list_even_when_a_page_comes_out_empty(
    client: httpx.AsyncClient,
) -> None:
    """Devices can leave a filtered list between two pages (an alert clears): the next page
    may then be empty, but the list still has its other devices, and ``total`` says so."""
    await post(client, [vehicle("v-a", temp=50), vehicle("v-b", temp=50)])
    first = await get_json(client, "/v1/fleet/vehicles", alerts="true", limit="1")
    assert [item["vehicleId"] for item in first["items"]] == ["v-a"]
    assert first["total"] == 2
    await post(client, [vehicle("v-b", temp=30)])  # cooled down: no alert any more
    rest = await get_json(
        client, "/v1/fleet/vehicles", alerts="true", limit="1", cursor=first["nextCursor"]
    )
    assert rest["items"] == []
    assert rest["nextCursor"] is None
    assert_window(rest)
    again = await get_json(client, "/v1/fleet/vehicles", alerts="true", limit="1")
    assert again["total"] == 1
    assert rest["total"] == 1, "v-a still has its alert"


async def test_limit_bounds(client: httpx.AsyncClient) -> None:
    await post(client, [vehicle(f"v-{n:03d}") for n in range(7)])
    one = await get_json(client, "/v1/fleet/vehicles", limit="1")
    assert [item["vehicleId"] for item in one["items"]] == ["v-000"]
    assert one["total"] == 7
    assert one["nextCursor"] is not None
    most = await get_json(client, "/v1/fleet/vehicles", limit="500")
    assert len(most["items"]) == 7
    assert most["nextCursor"] is None
    exact = await get_json(client, "/v1/fleet/vehicles", limit="7")
    assert (len(exact["items"]), exact["nextCursor"]) == (7, None), "no empty page after"


def _forged(*values: object) -> str:
    return base64.urlsafe_b64encode(json.dumps(list(values)).encode()).decode().rstrip("=")


@pytest.mark.parametrize("path", ["/v1/fleet/vehicles", "/v1/fleet/meters"])
async def test_bad_parameters_are_400_naming_them(client: httpx.AsyncClient, path: str) -> None:
    await post(client, [vehicle(f"v-{n}") for n in range(3)] + [meter(f"m-{n}") for n in range(3)])
    first = await get_json(client, path, limit="1")
    cursor = first["nextCursor"]
    assert isinstance(cursor, str)
    cases: list[tuple[dict[str, str], str]] = [
        ({"size": "10"}, "size"),
        ({"limit": "5", "offset": "5"}, "offset"),
        ({"sort": "colour"}, "sort"),
        ({"sort": "efficiency" if path.endswith("meters") else "voltage"}, "sort"),
        ({"order": "sideways"}, "order"),
        ({"order": "ASC"}, "order"),
        ({"limit": "0"}, "limit"),
        ({"limit": "501"}, "limit"),
        ({"limit": "abc"}, "limit"),
        ({"limit": "-1"}, "limit"),
        ({"limit": ""}, "limit"),
        ({"alerts": "yes"}, "alerts"),
        ({"q": "x" * 65}, "q"),
        ({"cursor": "garbled!"}, "cursor"),
        ({"cursor": cursor[:-3]}, "cursor"),
        ({"cursor": "e30"}, "cursor"),  # {}
        ({"cursor": cursor, "order": "desc"}, "cursor"),
        ({"cursor": cursor, "sort": "lastSeen"}, "cursor"),
    ]
    for params, name in cases:
        response = await client.get(path, params=params)
        body = assert_error(response, 400, name)
        assert name in body["message"], (params, body)


_FORGED = [
    ("/v1/fleet/vehicles", "soc", "abc"),
    ("/v1/fleet/vehicles", "batteryTemp", "1e999"),
    ("/v1/fleet/vehicles", "lastSeen", "yesterday"),
    ("/v1/fleet/vehicles", "efficiency", "high"),
    ("/v1/fleet/vehicles", "id", "v-\u0000"),
    ("/v1/fleet/meters", "voltage", "230 V"),
    ("/v1/fleet/meters", "lastSeen", "2026-02-30T25:00:00Z"),
    ("/v1/fleet/meters", "id", "m-\u0000"),
]


async def test_a_forged_cursor_or_query_is_a_400_never_a_500(client: httpx.AsyncClient) -> None:
    """A cursor is opaque, but a client can still send anything: a cursor of the right shape
    holding a value of the wrong type is bad input like any other, and so is a NUL character
    in ``q`` (PostgreSQL's text cannot hold one)."""
    await post(client, [vehicle("v-1"), vehicle("v-2"), meter("m-1"), meter("m-2")])
    answered: dict[str, tuple[int, object]] = {}
    for path, sort, value in _FORGED:
        cursor = _forged(sort, False, False, value, "x")
        response = await client.get(path, params={"sort": sort, "cursor": cursor})
        answered[f"{path} sort={sort} cursor value {value!r}"] = (
            response.status_code,
            [d["field"] for d in response.json().get("details", [])],
        )
    for path in ("/v1/fleet/vehicles", "/v1/fleet/meters"):
        response = await client.get(path, params={"q": "v\u0000"})
        answered[f"{path} q with NUL"] = (
            response.status_code,
            [d["field"] for d in response.json().get("details", [])],
        )
    # No id holds a NUL, so an empty list would do for q as well.
    wrong = {
        case: answer
        for case, answer in answered.items()
        if answer != (400, ["cursor" if "cursor" in case else "q"])
        and not (case.endswith("NUL") and answer == (200, []))
    }
    assert not wrong, f"neither a 400 naming the parameter nor an answer: {wrong}"


# --- the 24-hour figures agree with the analytics endpoint --------------------------------------


@dataclass
class Hour:
    energy: Decimal = Decimal(0)
    temperature: Decimal = Decimal(0)
    readings: int = 0


def _hours(posted: Sequence[Reading], device: str) -> dict[datetime, Hour]:
    """What history keeps of a device (the last of each timestamp), per hour."""
    kept: dict[str, Reading] = {}
    for reading in posted:
        if reading.get("meterId", reading.get("vehicleId")) == device:
            kept[reading["timestamp"]] = reading
    hours: dict[datetime, Hour] = defaultdict(Hour)
    for ts, reading in kept.items():
        hour = hours[hour_of(ts)]
        hour.energy += energy(reading)
        hour.temperature += Decimal(repr(reading.get("batteryTemp", 0.0)))
        hour.readings += 1
    return dict(hours)


async def test_lists_and_hourly_view_agree_exactly_with_analytics(
    client: httpx.AsyncClient, postgres: Postgres, database: str
) -> None:
    rng = random.Random(24)
    energies = (0.1, 0.2, 0.7, 0.3, 1.25, 0.333333333333333, 2.0, 0.0, 12.5)
    pairs = [(f"v-{n}", f"m-{n}") for n in range(3)]
    for vehicle_id, meter_id in pairs:
        await link(client, vehicle_id, meter_id)
    now = datetime.now(UTC)

    def reading(device: str, ts: str) -> Reading:
        if device.startswith("m"):
            return meter(device, kwh=rng.choice(energies), ts=ts)
        return vehicle(device, kwh=rng.choice(energies), temp=rng.choice((20, 25.5, 31)), ts=ts)

    devices = [device for pair in pairs for device in pair]
    # Within this hour and the four before it, never in the future, never near a day old.
    recent = [
        reading(d, ago(minutes=rng.uniform(0, 4 * 60 + 50), base=now))
        for d in devices
        for _ in range(12)
    ]
    await post_all_at_once(client, recent, rng)
    late = [reading(d, ago(hours=h, minutes=20, base=now)) for d in devices for h in (3, 4)]
    await post_all_at_once(client, late, rng)
    # Outside both windows: counted by neither.
    old = [reading(d, ago(hours=30, base=now)) for d in devices]
    await post_all_at_once(client, old, rng)
    first = [*recent, *late, *old]
    again = [reading(str(r.get("meterId") or r["vehicleId"]), r["timestamp"]) for r in first[::3]]
    await post_all_at_once(client, again, rng)
    posted = [*first, *again]
    await assert_rollups_exact(postgres, database)

    vehicles = by_id((await get_json(client, "/v1/fleet/vehicles"))["items"], "vehicleId")
    meters = by_id((await get_json(client, "/v1/fleet/meters"))["items"], "meterId")
    for vehicle_id, meter_id in pairs:
        analytics = await get_json(client, f"/v1/analytics/performance/{vehicle_id}")
        listed = vehicles[vehicle_id]
        assert listed["dcKwh24h"] == analytics["totalEnergyDeliveredDc"]
        assert listed["acKwh24h"] == analytics["totalEnergyConsumedAc"]
        assert listed["efficiency24h"] == analytics["efficiencyRatio"]
        assert meters[meter_id]["acKwh24h"] == analytics["totalEnergyConsumedAc"]

        dc_hours = _hours(posted, vehicle_id)
        ac_hours = _hours(posted, meter_id)
        in_window = [h for h in dc_hours if h > hour_of(stamp(now)) - timedelta(hours=20)]
        assert analytics["totalEnergyDeliveredDc"] == float(
            sum(dc_hours[h].energy for h in in_window)
        )
        assert analytics["vehicleReadings"] == sum(dc_hours[h].readings for h in in_window)

        hourly = await get_json(client, f"/v1/analytics/performance/{vehicle_id}/hourly")
        assert (hourly["vehicleId"], hourly["meterId"]) == (vehicle_id, meter_id)
        hours = hourly["hours"]
        assert len(hours) == 24
        starts = [datetime.fromisoformat(h["hourStart"]) for h in hours]
        assert starts == [starts[0] + timedelta(hours=n) for n in range(24)], "oldest first"
        assert all(h["hourStart"].endswith(":00:00.000Z") for h in hours)
        assert starts[-1] >= hour_of(stamp(now)), "up to the current hour"
        for start, entry in zip(starts, hours, strict=True):
            dc, ac = dc_hours.get(start, Hour()), ac_hours.get(start, Hour())
            assert entry["totalEnergyDeliveredDc"] == float(dc.energy), entry
            assert entry["totalEnergyConsumedAc"] == float(ac.energy), entry
            assert (entry["vehicleReadings"], entry["meterReadings"]) == (dc.readings, ac.readings)
            assert entry["efficiencyRatio"] == (
                float(dc.energy) / float(ac.energy) if ac.energy else None
            )
            if dc.readings:
                assert entry["avgBatteryTemp"] == pytest.approx(
                    float(dc.temperature / dc.readings), rel=1e-12
                )
            else:
                assert entry["avgBatteryTemp"] is None
        # The hours add up to the analytics' totals exactly (summed as the decimals they are).
        assert (
            float(sum(Decimal(repr(h["totalEnergyDeliveredDc"])) for h in hours))
            == (analytics["totalEnergyDeliveredDc"])
        )
        assert (
            float(sum(Decimal(repr(h["totalEnergyConsumedAc"])) for h in hours))
            == (analytics["totalEnergyConsumedAc"])
        )
        assert sum(h["vehicleReadings"] for h in hours) == analytics["vehicleReadings"]
        assert sum(h["meterReadings"] for h in hours) == analytics["meterReadings"]
        weighted = sum(
            Decimal(repr(h["avgBatteryTemp"])) * h["vehicleReadings"]
            for h in hours
            if h["vehicleReadings"]
        )
        assert analytics["avgBatteryTemp"] == pytest.approx(
            float(weighted / analytics["vehicleReadings"]), rel=1e-12
        )

        # Two days of hours take in the reading 30 hours old.
        wide = await get_json(client, f"/v1/analytics/performance/{vehicle_id}/hourly", hours="48")
        assert sum(h["vehicleReadings"] for h in wide["hours"]) == sum(
            h.readings for h in dc_hours.values()
        )


_HISTORY_TOTALS = """
SELECT (SELECT sum(kwh_delivered_dc::numeric)::float8 FROM vehicle_readings
        WHERE vehicle_id = 'v-1' AND ts > '{start}' AND ts <= '{end}'),
       (SELECT (sum(battery_temp::numeric) / count(*))::float8 FROM vehicle_readings
        WHERE vehicle_id = 'v-1' AND ts > '{start}' AND ts <= '{end}'),
       (SELECT count(*) FROM vehicle_readings
        WHERE vehicle_id = 'v-1' AND ts > '{start}' AND ts <= '{end}'),
       (SELECT sum(kwh_consumed_ac::numeric)::float8 FROM meter_readings
        WHERE meter_id = 'm-1' AND ts > '{start}' AND ts <= '{end}'),
       (SELECT count(*) FROM meter_readings
        WHERE meter_id = 'm-1' AND ts > '{start}' AND ts <= '{end}')
"""
_PENDING = """
SELECT count(*), count(*) FILTER (WHERE sign = -1)
FROM (SELECT sign FROM meter_pending UNION ALL SELECT sign FROM vehicle_pending) AS p
"""


async def test_analytics_equal_history_with_changes_pending_and_folded(
    config: Config, postgres: Postgres, database: str
) -> None:
    """Analytics take a window's whole hours from the rollups and the changes not folded yet,
    and its two partial hours from history: whichever way a reading is held, replaced ones
    included, the totals are history's own, before the fold and after it."""
    await clear_of_the_hour()
    rng = random.Random(720)
    now = datetime.now(UTC)
    # This hour, whole hours, the first minutes of a day's window (its partial first hour,
    # unless the clock is within minutes of the hour), outside it, and the two instants where
    # its whole hours begin and end: the current hour's start, and 23 hours before it.
    minutes = (2, 30, 61, 150, 600, 1380, 1437, 1500, 2940)
    this_hour = hour_of(stamp(now))
    moments = [now - timedelta(minutes=m) for m in minutes]
    moments += [this_hour, this_hour - timedelta(hours=23)]
    first = [random_reading(rng, d, stamp(moment)) for d in ("m-1", "v-1") for moment in moments]
    again = [random_reading(rng, device_of(r), r["timestamp"]) for r in first[::2]]
    lazy = dataclasses.replace(config, fold_interval_s=3600)
    async with trio.open_nursery() as nursery:
        running: Running = await nursery.start(run, lazy)
        async with httpx.AsyncClient(base_url=running.url, timeout=IO_TIMEOUT_S) as client:
            await link(client, "v-1", "m-1")
            await post(client, first)
            await post(client, again)
            ((changes, replaced),) = await postgres.aquery(database, _PENDING)
            assert (int(changes) > 0, int(replaced) > 0) == (True, True), (changes, replaced)

            async def analytics_as_history(hours: str) -> dict[str, Any]:
                body = await get_json(client, "/v1/analytics/performance/v-1", hours=hours)
                window = {"start": body["windowStart"], "end": body["windowEnd"]}
                ((dc, temp, vehicles, ac, meters),) = await postgres.aquery(
                    database, _HISTORY_TOTALS.format(**window)
                )
                assert (
                    body["totalEnergyDeliveredDc"],
                    body["vehicleReadings"],
                    body["totalEnergyConsumedAc"],
                    body["meterReadings"],
                ) == (float(dc), int(vehicles), float(ac), int(meters)), window
                # A quotient of the same sums, whose scales may differ (2.00 for 2).
                assert body["avgBatteryTemp"] == pytest.approx(float(temp), rel=1e-12)
                return body

            spans = ("1", "24", "48", "720")
            pending = [await analytics_as_history(hours) for hours in spans]
            assert [p["vehicleReadings"] for p in pending] == [3, 9, 10, 11]
            await get_json(client, "/v1/fleet/summary")  # a fleet read folds what is pending
            assert await postgres.aquery(database, _PENDING) == [["0", "0"]]
            folded = [await analytics_as_history(hours) for hours in spans]
            for before, after in zip(pending, folded, strict=True):
                totals = ("totalEnergyDeliveredDc", "totalEnergyConsumedAc", "vehicleReadings")
                assert [before[k] for k in totals] == [after[k] for k in totals]
        running.stop.set()


async def test_hourly_view_hours_bounds_and_missing_link(client: httpx.AsyncClient) -> None:
    await clear_of_the_hour()  # the readings below must stay in the current hour
    await link(client, "v-1", "m-1")
    await post(client, [vehicle("v-1", kwh=1.5, temp=20), meter("m-1", kwh=3.0)])
    now_hour = hour_of(stamp(datetime.now(UTC)))

    one = await get_json(client, "/v1/analytics/performance/v-1/hourly", hours="1")
    assert len(one["hours"]) == 1
    (entry,) = one["hours"]
    assert datetime.fromisoformat(entry["hourStart"]) >= now_hour
    assert entry == {
        "hourStart": entry["hourStart"],
        "totalEnergyConsumedAc": 3.0,
        "totalEnergyDeliveredDc": 1.5,
        "efficiencyRatio": 0.5,
        "avgBatteryTemp": 20,
        "vehicleReadings": 1,
        "meterReadings": 1,
    }
    most = await get_json(client, "/v1/analytics/performance/v-1/hourly", hours="168")
    assert len(most["hours"]) == 168
    assert most["hours"][-1] == entry
    assert most["hours"][0] == {
        "hourStart": most["hours"][0]["hourStart"],
        "totalEnergyConsumedAc": 0,
        "totalEnergyDeliveredDc": 0,
        "efficiencyRatio": None,
        "avgBatteryTemp": None,
        "vehicleReadings": 0,
        "meterReadings": 0,
    }
    assert datetime.fromisoformat(most["hours"][-1]["hourStart"]) - datetime.fromisoformat(
        most["hours"][0]["hourStart"]
    ) == timedelta(hours=167)
    default = await get_json(client, "/v1/analytics/performance/v-1/hourly")
    assert len(default["hours"]) == 24

    # A link to a meter that never reported, and a vehicle that never did: every hour empty.
    await link(client, "v-silent", "m-silent")
    silent = await get_json(client, "/v1/analytics/performance/v-silent/hourly", hours="3")
    assert silent["meterId"] == "m-silent"
    assert [h["vehicleReadings"] + h["meterReadings"] for h in silent["hours"]] == [0, 0, 0]

    for hours in ("0", "169", "abc", "-1", "1.5", ""):
        response = await client.get("/v1/analytics/performance/v-1/hourly", params={"hours": hours})
        assert_error(response, 400, "hours")
    missing = await client.get("/v1/analytics/performance/v-unlinked/hourly")
    body = assert_error(missing, 404)
    assert body["message"] == (
        "No meter link found for this vehicle. Create a link via PUT /v1/links"
    )
    assert_error(await client.get("/v1/analytics/performance/.bad/hourly"), 400, "vehicleId")


async def test_a_vehicle_with_several_alerts_counts_once_in_the_summary(
    client: httpx.AsyncClient, postgres: Postgres, database: str
) -> None:
    """The summary counts the alerts of the latest state and those of the efficiency apart
    (sql/009); a vehicle with both must still count once, as the alerts-only list has it."""
    now = datetime.now(UTC)
    vehicles = {
        "v-low": vehicle("v-low", kwh=0.5, ts=ago(base=now)),
        "v-high-stale": vehicle("v-high-stale", kwh=2.0, ts=ago(minutes=10, base=now)),
        "v-low-hot": vehicle("v-low-hot", kwh=0.5, temp=46, ts=ago(base=now)),
        "v-fine": vehicle("v-fine", kwh=0.9, ts=ago(base=now)),
    }
    for n, (vehicle_id, reading) in enumerate(vehicles.items()):
        await post(client, [reading, meter(f"m-{n}", kwh=1.0, ts=ago(base=now))])
        await link(client, vehicle_id, f"m-{n}")

    summary = await get_json(client, "/v1/fleet/summary")
    listed = await get_json(client, "/v1/fleet/vehicles", alerts="true")

    assert {v["vehicleId"]: v["alerts"] for v in listed["items"]} == {
        "v-low": ["efficiency_low"],
        "v-high-stale": ["stale", "efficiency_high"],
        "v-low-hot": ["efficiency_low", "battery_hot"],
    }
    assert summary["vehicles"]["alerts"] == listed["total"] == 3
    assert await assert_efficiency_current(postgres, database) == 4


async def test_a_link_s_change_moves_the_vehicle_in_the_efficiency_order_at_once(
    client: httpx.AsyncClient, postgres: Postgres, database: str
) -> None:
    now = datetime.now(UTC)
    await post(
        client,
        [
            vehicle("v-1", kwh=0.9, ts=ago(base=now)),
            vehicle("v-2", kwh=0.85, ts=ago(base=now)),
            meter("m-1", kwh=1.0, ts=ago(base=now)),
            meter("m-2", kwh=2.0, ts=ago(base=now)),
        ],
    )
    await link(client, "v-1", "m-1")
    await link(client, "v-2", "m-1")

    async def by_efficiency() -> list[tuple[str, str | None, float | None, float]]:
        body = await get_json(client, "/v1/fleet/vehicles", sort="efficiency", order="desc")
        return [
            (v["vehicleId"], v["meterId"], v["efficiency24h"], v["acKwh24h"]) for v in body["items"]
        ]

    assert await by_efficiency() == [("v-1", "m-1", 0.9, 1.0), ("v-2", "m-1", 0.85, 1.0)]
    await link(client, "v-1", "m-2")
    assert await by_efficiency() == [("v-2", "m-1", 0.85, 1.0), ("v-1", "m-2", 0.45, 2.0)]
    assert (await client.delete("/v1/links/v-2")).status_code == 204
    assert await by_efficiency() == [("v-1", "m-2", 0.45, 2.0), ("v-2", None, None, 0.0)]
    assert await assert_efficiency_current(postgres, database) == 2
