"""The HTTP contract (API.md) against a real daemon on a real PostgreSQL: shapes, status codes,
limits, and the rule that a request that gets an error stored nothing."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest

from tests.conftest import Postgres
from tests.support import assert_error, at, meter, vehicle

JSON_BODY = {"Content-Type": "application/json"}


async def _count(postgres: Postgres, database: str, table: str) -> int:
    rows = await postgres.aquery(database, f"SELECT count(*) FROM {table}")
    return int(rows[0][0])


async def _nothing_stored(postgres: Postgres, database: str) -> None:
    for table in ("meter_readings", "vehicle_readings", "meter_latest", "vehicle_latest"):
        assert await _count(postgres, database, table) == 0, table


async def test_single_meter_and_vehicle_are_acknowledged_after_commit(
    client: httpx.AsyncClient, postgres: Postgres, database: str
) -> None:
    response = await client.post("/v1/ingest", json=meter())
    assert response.status_code == 201
    assert response.json() == {"status": "ok", "type": "meter"}
    response = await client.post("/v1/ingest", json=vehicle())
    assert response.status_code == 201
    assert response.json() == {"status": "ok", "type": "vehicle"}
    # 201 means committed: no waiting, no polling.
    assert await _count(postgres, database, "meter_readings") == 1
    assert await _count(postgres, database, "vehicle_latest") == 1


async def test_batch_json_array_counts_kinds(
    client: httpx.AsyncClient, postgres: Postgres, database: str
) -> None:
    readings = [meter(f"m-{i}") for i in range(30)] + [vehicle(f"v-{i}") for i in range(20)]
    response = await client.post("/v1/ingest/batch", json=readings)
    assert response.status_code == 201, response.text
    assert response.json() == {"status": "ok", "count": 50, "meters": 30, "vehicles": 20}
    assert await _count(postgres, database, "meter_readings") == 30
    assert await _count(postgres, database, "vehicle_readings") == 20


async def test_batch_ndjson(client: httpx.AsyncClient, postgres: Postgres, database: str) -> None:
    body = "\n".join(json.dumps(r) for r in (meter("m-a"), vehicle("v-a"), vehicle("v-b"))) + "\n"
    response = await client.post(
        "/v1/ingest/batch", content=body, headers={"Content-Type": "application/x-ndjson"}
    )
    assert response.status_code == 201, response.text
    assert response.json() == {"status": "ok", "count": 3, "meters": 1, "vehicles": 2}
    assert await _count(postgres, database, "vehicle_latest") == 2


async def test_batch_with_one_bad_item_stores_nothing(
    client: httpx.AsyncClient, postgres: Postgres, database: str
) -> None:
    readings: list[dict[str, Any]] = [meter(f"m-{i}") for i in range(10)]
    readings[7]["voltage"] = 1500
    response = await client.post("/v1/ingest/batch", json=readings)
    body = assert_error(response, 400, "voltage")
    assert body["details"] == [
        {"field": "voltage", "message": "must be between 0 and 1000", "index": 7}
    ]
    await _nothing_stored(postgres, database)


async def test_batch_lists_at_most_100_problems(client: httpx.AsyncClient) -> None:
    readings = [vehicle(f"v-{i}", soc=150) for i in range(300)]
    body = assert_error(await client.post("/v1/ingest/batch", json=readings), 400, "soc")
    assert len(body["details"]) == 100
    assert [d["index"] for d in body["details"]] == list(range(100))
    assert body["message"].startswith("At least 100 of 300 readings are invalid")


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        pytest.param({**meter(), "vehicleId": "v-1"}, "vehicleId", id="both-ids"),
        pytest.param(
            {"kwhConsumedAc": 1, "voltage": 230, "timestamp": at()}, "vehicleId", id="no-id"
        ),
        pytest.param({**meter(), "extra": 1}, "extra", id="unknown-field"),
        pytest.param({**meter(), "voltage": None}, "voltage", id="null"),
        pytest.param({**vehicle(), "soc": True}, "soc", id="boolean"),
        pytest.param({**vehicle(), "soc": "50"}, "soc", id="string-number"),
        pytest.param({**vehicle(), "soc": 100.5}, "soc", id="soc-range"),
        pytest.param({**vehicle(), "batteryTemp": -41}, "batteryTemp", id="temp-range"),
        pytest.param({**meter(), "kwhConsumedAc": -0.1}, "kwhConsumedAc", id="negative-energy"),
        pytest.param({**meter(), "timestamp": "2026-02-09T10:00:00"}, "timestamp", id="no-offset"),
        pytest.param({**meter(), "timestamp": at(minutes_ago=-10)}, "timestamp", id="future"),
        pytest.param(
            {**meter(), "timestamp": at(hours_ago=24 * 31)}, "timestamp", id="past-retention"
        ),
        pytest.param({**meter(), "meterId": "-bad"}, "meterId", id="bad-id"),
    ],
)
async def test_invalid_reading_is_400_naming_the_field_and_stores_nothing(
    client: httpx.AsyncClient,
    postgres: Postgres,
    database: str,
    payload: dict[str, Any],
    field: str,
) -> None:
    assert_error(await client.post("/v1/ingest", json=payload), 400, field)
    await _nothing_stored(postgres, database)


@pytest.mark.parametrize(
    ("raw", "field"),
    [
        pytest.param(
            '{"vehicleId":"v","soc":NaN,"kwhDeliveredDc":1,"batteryTemp":20,"timestamp":"%s"}',
            "soc",
            id="nan",
        ),
        pytest.param(
            '{"vehicleId":"v","soc":1,"kwhDeliveredDc":Infinity,"batteryTemp":20,"timestamp":"%s"}',
            "kwhDeliveredDc",
            id="infinity",
        ),
        pytest.param(
            '{"meterId":"m","kwhConsumedAc":1e999,"voltage":230,"timestamp":"%s"}',
            "kwhConsumedAc",
            id="overflow",
        ),
        pytest.param(
            '{"meterId":"m","meterId":"n","kwhConsumedAc":1,"voltage":230,"timestamp":"%s"}',
            "meterId",
            id="duplicate-key",
        ),
    ],
)
async def test_non_finite_and_ambiguous_json_is_400_naming_the_field(
    client: httpx.AsyncClient, raw: str, field: str
) -> None:
    response = await client.post("/v1/ingest", content=raw % at(), headers=JSON_BODY)
    assert_error(response, 400, field)


@pytest.mark.parametrize(
    "body",
    [
        b"",
        b"null",
        b"[]",
        b"42",
        b'"text"',
        b"{",
        b"\xff\xfe",
        b"[1,2]",
        b'{"meterId": {"nested": true}}',
        b"[" * 50_000,
        b'{"a":' * 12_000,
        b"{}" * 3,
        '{"meterId": "\u0000"}'.encode(),
    ],
)
async def test_garbage_never_gets_a_500(
    client: httpx.AsyncClient, postgres: Postgres, database: str, body: bytes
) -> None:
    for path in ("/v1/ingest", "/v1/ingest/batch", "/v1/links"):
        method = "PUT" if path == "/v1/links" else "POST"
        response = await client.request(method, path, content=body, headers=JSON_BODY)
        assert_error(response, 400)
    await _nothing_stored(postgres, database)


@pytest.mark.parametrize(
    "content_type",
    [None, "text/plain", "application/x-www-form-urlencoded", "multipart/form-data", "text/json"],
)
async def test_a_body_that_is_not_declared_json_is_415_and_stores_nothing(
    client: httpx.AsyncClient, postgres: Postgres, database: str, content_type: str | None
) -> None:
    """What a browser sends to another site without asking it first, so no web page a user
    opens can write readings or links into a daemon on their machine."""
    headers = {} if content_type is None else {"Content-Type": content_type}
    link = json.dumps({"vehicleId": "v-1", "meterId": "m-1"})
    for method, path, body in (
        ("POST", "/v1/ingest", json.dumps(meter())),
        ("POST", "/v1/ingest/batch", json.dumps([meter()])),
        ("PUT", "/v1/links", link),
    ):
        response = await client.request(method, path, content=body, headers=headers)
        message = assert_error(response, 415)["message"]
        assert "application/json" in message
    await _nothing_stored(postgres, database)
    links = await postgres.aquery(database, "SELECT count(*) FROM vehicle_meter_links")
    assert links == [["0"]]


async def test_json_with_a_charset_is_json(client: httpx.AsyncClient) -> None:
    headers = {"Content-Type": "Application/JSON; charset=utf-8"}
    response = await client.post("/v1/ingest", content=json.dumps(meter()), headers=headers)
    assert response.status_code == 201, response.text


# The daemon answers 413 from Content-Length without reading the body; httpx then drops its
# unfinished upload generator, which Python reports as an unraisable exception in the client.
@pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")
async def test_body_limits_are_413(client: httpx.AsyncClient) -> None:
    padding = "x" * (65 * 1024)
    response = await client.post("/v1/ingest", json={**meter(), "pad": padding})
    assert_error(response, 413)
    huge = b"[" + b" " * (10 * 1024 * 1024) + b"]"
    assert_error(await client.post("/v1/ingest/batch", content=huge, headers=JSON_BODY), 413)


async def test_batch_size_bounds(client: httpx.AsyncClient) -> None:
    assert_error(await client.post("/v1/ingest/batch", json=[]), 400)
    too_many = [meter(f"m-{i}") for i in range(10_001)]
    body = assert_error(await client.post("/v1/ingest/batch", json=too_many), 400)
    assert "10000" in body["message"]


async def test_links_lifecycle(client: httpx.AsyncClient) -> None:
    assert_error(await client.get("/v1/links/vehicle-001"), 404)
    response = await client.put("/v1/links", json={"vehicleId": "vehicle-001", "meterId": "m-1"})
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}
    await client.put("/v1/links", json={"vehicleId": "vehicle-001", "meterId": "m-2"})
    body = (await client.get("/v1/links/vehicle-001")).json()
    assert body["vehicleId"] == "vehicle-001"
    assert body["meterId"] == "m-2", "a new link replaces the old one"
    assert body["linkedAt"].endswith("Z")
    response = await client.delete("/v1/links/vehicle-001")
    assert response.status_code == 204
    assert response.content == b""
    assert_error(await client.delete("/v1/links/vehicle-001"), 404)
    assert_error(await client.get("/v1/links/vehicle-001"), 404)


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({"vehicleId": "v-1"}, "meterId"),
        ({"vehicleId": "v-1", "meterId": "m 1"}, "meterId"),
        ({"vehicleId": "v-1", "meterId": "m-1", "since": "now"}, "since"),
        ({"vehicleId": 7, "meterId": "m-1"}, "vehicleId"),
    ],
)
async def test_invalid_link_is_400(
    client: httpx.AsyncClient, payload: dict[str, Any], field: str
) -> None:
    assert_error(await client.put("/v1/links", json=payload), 400, field)


async def test_status_shapes_and_not_found(client: httpx.AsyncClient) -> None:
    assert_error(await client.get("/v1/status/vehicle/v-404"), 404)
    assert (await client.get("/v1/status/vehicle/v-404")).json()["message"] == "Vehicle not found"
    assert (await client.get("/v1/status/meter/m-404")).json()["message"] == "Meter not found"
    await client.post("/v1/ingest", json=vehicle("v-1", soc=68.2, kwh=1.18, temp=31.4, ts=at()))
    await client.post("/v1/ingest", json=meter("m-1", kwh=1.42, voltage=0, ts=at()))
    body = (await client.get("/v1/status/vehicle/v-1")).json()
    assert set(body) == {
        "vehicle_id",
        "soc",
        "kwh_delivered_dc",
        "battery_temp",
        "ts",
        "updated_at",
    }
    assert (body["vehicle_id"], body["soc"], body["kwh_delivered_dc"], body["battery_temp"]) == (
        "v-1",
        68.2,
        1.18,
        31.4,
    )
    body = (await client.get("/v1/status/meter/m-1")).json()
    assert set(body) == {"meter_id", "kwh_consumed_ac", "voltage", "ts", "updated_at"}
    assert body["voltage"] == 0, "0 V is a real reading: an outage"
    assert len(body["ts"]) == len("2026-02-09T10:00:00.000Z")
    assert body["ts"].endswith("Z")


async def test_invalid_path_id_is_400(client: httpx.AsyncClient) -> None:
    assert_error(await client.get("/v1/status/vehicle/" + "v" * 65), 400, "vehicleId")
    assert_error(await client.get("/v1/analytics/performance/.v"), 400, "vehicleId")


async def test_unknown_route_and_method_use_the_error_shape(client: httpx.AsyncClient) -> None:
    assert_error(await client.get("/v2/nothing"), 404)
    wrong_method = await client.get("/v1/ingest")
    assert_error(wrong_method, 405)
    assert "POST" in wrong_method.headers["Allow"]


async def test_health_readiness_and_openapi(client: httpx.AsyncClient) -> None:
    assert (await client.get("/healthz")).json() == {"status": "ok"}
    response = await client.get("/readyz")
    assert response.status_code == 200
    assert response.json() == {"status": "ready"}
    document = (await client.get("/openapi.json")).json()
    assert document["openapi"].startswith("3.1")
    assert "/v1/ingest/batch" in document["paths"]
