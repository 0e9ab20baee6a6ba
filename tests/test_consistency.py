"""What the data means: latest state never goes back in time, duplicates replace and count
once, and analytics sum what was stored, over the right window."""

from __future__ import annotations

import random

import httpx
import pytest
import trio

from tests.conftest import Postgres
from tests.support import at, meter, vehicle

# Consistency on every PostgreSQL version the daemon supports.
pytestmark = pytest.mark.every_postgres


async def _post_ok(client: httpx.AsyncClient, payload: object) -> None:
    response = await client.post("/v1/ingest", json=payload)
    assert response.status_code == 201, response.text


async def test_older_reading_never_replaces_newer_latest_state(
    client: httpx.AsyncClient, postgres: Postgres, database: str
) -> None:
    await _post_ok(client, vehicle("v-1", soc=80, ts=at(minutes_ago=1)))
    await _post_ok(client, vehicle("v-1", soc=20, ts=at(minutes_ago=5)))
    status = (await client.get("/v1/status/vehicle/v-1")).json()
    assert status["soc"] == 80
    rows = await postgres.aquery(database, "SELECT count(*) FROM vehicle_readings")
    assert rows == [["2"]], "the older reading still goes to history"


async def test_fifty_concurrent_posts_with_shuffled_timestamps_leave_the_newest(
    client: httpx.AsyncClient,
) -> None:
    stamps = [at(minutes_ago=m) for m in range(50)]
    newest = stamps[0]
    random.Random(7).shuffle(stamps)
    async with trio.open_nursery() as nursery:
        for n, ts in enumerate(stamps):
            nursery.start_soon(_post_ok, client, meter("m-1", kwh=float(n), ts=ts))
    status = (await client.get("/v1/status/meter/m-1")).json()
    assert status["ts"] == newest[:23] + "Z"
    assert status["kwh_consumed_ac"] == float(stamps.index(newest))


async def test_equal_timestamps_last_received_wins_in_history_and_latest(
    client: httpx.AsyncClient, postgres: Postgres, database: str
) -> None:
    ts = at(minutes_ago=2)
    for soc in (10, 20, 30):
        await _post_ok(client, vehicle("v-1", soc=soc, ts=ts))
    assert (await client.get("/v1/status/vehicle/v-1")).json()["soc"] == 30
    rows = await postgres.aquery(database, "SELECT soc FROM vehicle_readings")
    assert rows == [["30"]]


async def test_duplicates_inside_one_batch_keep_the_last(
    client: httpx.AsyncClient, postgres: Postgres, database: str
) -> None:
    ts = at(minutes_ago=3)
    batch = [meter("m-1", kwh=1, ts=ts), meter("m-1", kwh=2, ts=ts), meter("m-1", kwh=3, ts=ts)]
    response = await client.post("/v1/ingest/batch", json=batch)
    assert response.status_code == 201
    rows = await postgres.aquery(database, "SELECT kwh_consumed_ac FROM meter_readings")
    assert rows == [["3"]]
    assert (await client.get("/v1/status/meter/m-1")).json()["kwh_consumed_ac"] == 3


async def test_read_your_writes(client: httpx.AsyncClient) -> None:
    for soc in range(10):
        await _post_ok(client, vehicle("v-ryw", soc=soc, ts=at(minutes_ago=10 - soc)))
        assert (await client.get("/v1/status/vehicle/v-ryw")).json()["soc"] == soc


async def _link(client: httpx.AsyncClient, vehicle_id: str, meter_id: str) -> None:
    response = await client.put("/v1/links", json={"vehicleId": vehicle_id, "meterId": meter_id})
    assert response.status_code == 200


async def _performance(client: httpx.AsyncClient, path: str) -> dict[str, object]:
    response = await client.get(path)
    assert response.status_code == 200, response.text
    body: dict[str, object] = response.json()
    return body


async def test_analytics_sums_the_window(client: httpx.AsyncClient) -> None:
    await _link(client, "v-1", "m-1")
    readings = [
        meter("m-1", kwh=10, ts=at(minutes_ago=60)),
        meter("m-1", kwh=5, ts=at(minutes_ago=30)),
        vehicle("v-1", kwh=8, temp=30, ts=at(minutes_ago=60)),
        vehicle("v-1", kwh=4, temp=34, ts=at(minutes_ago=30)),
        # 30 hours old: stored, but outside the 24-hour window.
        meter("m-1", kwh=100, ts=at(hours_ago=30)),
        vehicle("v-1", kwh=100, temp=90, ts=at(hours_ago=30)),
        # Another meter's energy never counts for this vehicle.
        meter("m-2", kwh=50, ts=at(minutes_ago=30)),
    ]
    assert (await client.post("/v1/ingest/batch", json=readings)).status_code == 201
    body = await _performance(client, "/v1/analytics/performance/v-1")
    assert body["vehicleId"] == "v-1"
    assert body["meterId"] == "m-1"
    assert body["totalEnergyConsumedAc"] == 15
    assert body["totalEnergyDeliveredDc"] == 12
    assert body["efficiencyRatio"] == 0.8
    assert body["avgBatteryTemp"] == 32
    assert body["vehicleReadings"] == 2
    assert body["meterReadings"] == 2
    assert isinstance(body["windowStart"], str)
    assert isinstance(body["windowEnd"], str)
    assert body["windowStart"] < body["windowEnd"]

    wide = await _performance(client, "/v1/analytics/performance/v-1?hours=48")
    assert wide["totalEnergyConsumedAc"] == 115
    assert wide["vehicleReadings"] == 3
    narrow = await _performance(client, "/v1/analytics/performance/v-1?hours=1")
    assert narrow["totalEnergyDeliveredDc"] == 4, "only the reading 30 minutes old"


async def test_duplicate_reading_counts_once_in_analytics(client: httpx.AsyncClient) -> None:
    await _link(client, "v-1", "m-1")
    twice = [meter("m-1", kwh=2, ts=at(minutes_ago=5)), vehicle("v-1", kwh=1, ts=at(minutes_ago=5))]
    for _ in range(2):
        assert (await client.post("/v1/ingest/batch", json=twice)).status_code == 201
    body = await _performance(client, "/v1/analytics/performance/v-1")
    assert (body["meterReadings"], body["vehicleReadings"]) == (1, 1)
    assert body["totalEnergyConsumedAc"] == 2


async def test_no_meter_data_gives_null_ratio_and_no_vehicle_data_null_temperature(
    client: httpx.AsyncClient,
) -> None:
    await _link(client, "v-1", "m-silent")
    body = await _performance(client, "/v1/analytics/performance/v-1")
    assert body["efficiencyRatio"] is None
    assert body["avgBatteryTemp"] is None
    assert (body["totalEnergyConsumedAc"], body["vehicleReadings"]) == (0, 0)
    await _post_ok(client, vehicle("v-1", kwh=3, temp=25))
    body = await _performance(client, "/v1/analytics/performance/v-1")
    assert body["efficiencyRatio"] is None, "AC is still 0"
    assert body["avgBatteryTemp"] == 25


async def test_analytics_without_link_is_404(client: httpx.AsyncClient) -> None:
    await _post_ok(client, vehicle("v-lonely"))
    response = await client.get("/v1/analytics/performance/v-lonely")
    assert response.status_code == 404
    assert response.json()["message"] == (
        "No meter link found for this vehicle. Create a link via PUT /v1/links"
    )


@pytest.mark.parametrize("hours", ["0", "721", "1.5", "-3", "x"])
async def test_analytics_hours_out_of_range_is_400(client: httpx.AsyncClient, hours: str) -> None:
    await _link(client, "v-1", "m-1")
    response = await client.get(f"/v1/analytics/performance/v-1?hours={hours}")
    assert response.status_code == 400
    assert response.json()["details"][0]["field"] == "hours"


async def test_late_reading_gets_its_partition_on_demand(
    client: httpx.AsyncClient, postgres: Postgres, database: str
) -> None:
    await _post_ok(client, meter("m-late", ts=at(hours_ago=24 * 20)))
    rows = await postgres.aquery(
        database,
        "SELECT count(*) FROM pg_inherits WHERE inhparent = 'meter_readings'::regclass",
    )
    assert int(rows[0][0]) >= 5, "four days ahead of time, plus the late day on demand"
