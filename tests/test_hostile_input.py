"""Input that is valid by its shape but chosen to hurt: values at the edges of what is summed,
and bodies built to cost the daemon time or memory. None of it may answer a 500, store what it
should not, or hold up other clients."""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import pytest

from tests import daemon_process
from tests.conftest import IO_TIMEOUT_S, Postgres
from tests.support import assert_error, at, meter, vehicle

SMALLEST_FLOAT = 5e-324


async def _link(client: httpx.AsyncClient, vehicle_id: str, meter_id: str) -> None:
    link = {"vehicleId": vehicle_id, "meterId": meter_id}
    assert (await client.put("/v1/links", json=link)).status_code == 200


@pytest.mark.parametrize("kwh", [1000.000001, 1.7e308, 1e300])
async def test_energy_beyond_one_megawatt_hour_a_reading_is_400(
    client: httpx.AsyncClient, postgres: Postgres, database: str, kwh: float
) -> None:
    for reading, field in ((meter(kwh=kwh), "kwhConsumedAc"), (vehicle(kwh=kwh), "kwhDeliveredDc")):
        assert_error(await client.post("/v1/ingest", json=reading), 400, field)
        assert_error(await client.post("/v1/ingest/batch", json=[reading]), 400, field)
    stored = await postgres.aquery(
        database,
        "SELECT (SELECT count(*) FROM meter_readings) + (SELECT count(*) FROM vehicle_readings)",
    )
    assert stored == [["0"]]


async def test_the_largest_readings_sum_and_answer_everywhere(client: httpx.AsyncClient) -> None:
    """What used to overflow PostgreSQL's sum ("value out of range") and fail analytics for
    good: now the most a reading may carry, many times over, sums to finite answers."""
    readings = [meter("m-max", kwh=1000, ts=at(minutes)) for minutes in range(60)]
    readings += [vehicle("v-max", kwh=1000, ts=at(minutes)) for minutes in range(60)]
    assert (await client.post("/v1/ingest/batch", json=readings)).status_code == 201
    await _link(client, "v-max", "m-max")

    performance = (await client.get("/v1/analytics/performance/v-max")).json()

    assert performance["totalEnergyConsumedAc"] == 60_000
    assert performance["totalEnergyDeliveredDc"] == 60_000
    assert performance["efficiencyRatio"] == 1
    for path in (
        "/v1/analytics/performance/v-max/hourly",
        "/v1/fleet/summary",
        "/v1/fleet/vehicles?sort=efficiency",
        "/v1/fleet/meters",
    ):
        assert (await client.get(path)).status_code == 200, path


async def test_next_to_no_ac_gives_no_ratio_rather_than_a_500(client: httpx.AsyncClient) -> None:
    """DC over the smallest AC a float holds overflows float8: once JSON could not carry it and
    PostgreSQL refused the division, so the vehicle's analytics and every fleet list that held
    it failed. Such a ratio means nothing, so it is left out, as when no AC was consumed."""
    readings = [
        meter("m-tiny", kwh=SMALLEST_FLOAT, ts=at(1)),
        vehicle("v-tiny", kwh=1000, ts=at(1)),
        meter("m-fair", kwh=2.0, ts=at(1)),
        vehicle("v-fair", kwh=1.8, ts=at(1)),
    ]
    assert (await client.post("/v1/ingest/batch", json=readings)).status_code == 201
    await _link(client, "v-tiny", "m-tiny")
    await _link(client, "v-fair", "m-fair")

    performance = (await client.get("/v1/analytics/performance/v-tiny")).json()
    hourly = (await client.get("/v1/analytics/performance/v-tiny/hourly?hours=2")).json()
    listed = (await client.get("/v1/fleet/vehicles?sort=efficiency&order=desc")).json()
    summary = await client.get("/v1/fleet/summary")

    assert performance["totalEnergyConsumedAc"] == SMALLEST_FLOAT
    assert performance["efficiencyRatio"] is None
    assert [hour["efficiencyRatio"] for hour in hourly["hours"]] == [None, None]
    ratios = {item["vehicleId"]: item["efficiency24h"] for item in listed["items"]}
    assert ratios == {"v-tiny": None, "v-fair": 0.9}
    assert summary.status_code == 200
    assert summary.json()["fleetEfficiency"]["efficiencyRatio"] == (1000 + 1.8) / 2.0


NDJSON = {"Content-Type": "application/x-ndjson"}


@pytest.mark.parametrize(
    ("body", "headers"),
    [
        pytest.param(b"{\n" * 1_000_000, NDJSON, id="a-million-ndjson-lines-of-brace"),
        pytest.param(b"[" + b"{}," * 3_400_000 + b"{}]", {}, id="millions-of-empty-objects"),
        pytest.param(b"[" + b"1," * 5_000_000 + b"1]", {}, id="millions-of-numbers"),
        pytest.param(b"{}\n" * 10_001, NDJSON, id="one-line-too-many"),
    ],
)
async def test_a_body_of_millions_of_tiny_values_is_refused_before_it_is_decoded(
    client: httpx.AsyncClient,
    postgres: Postgres,
    database: str,
    body: bytes,
    headers: dict[str, str],
) -> None:
    """Once these took seconds of the event loop (8 s for the million lines, while /healthz
    waited as long) and grew the daemon by gigabytes, building an object and a problem for every
    value. Now braces and commas are counted first: no batch of 10,000 readings has more."""
    response = await client.post(
        "/v1/ingest/batch", content=body, headers={"Content-Type": "application/json", **headers}
    )
    message = assert_error(response, 400)["message"]
    assert "1 to 10000 readings" in message
    assert (await client.get("/healthz")).status_code == 200
    stored = await postgres.aquery(database, "SELECT count(*) FROM meter_readings")
    assert stored == [["0"]]


async def test_a_large_batch_is_parsed_off_the_event_loop_with_the_same_answers(
    client: httpx.AsyncClient, postgres: Postgres, database: str
) -> None:
    """Over 256 KiB a body is parsed in a worker thread: valid, it is stored; invalid, it gets
    the same 400 with the first 100 problems (checking stops there), and nothing is stored."""
    good = [meter(f"m-{i}", ts=at(i % 60)) for i in range(4_000)]
    bad = [meter(f"m-{i}", voltage=-1.0, ts=at(i % 60)) for i in range(10_000)]
    assert len(json.dumps(good)) > 256 * 1024

    refused = assert_error(await client.post("/v1/ingest/batch", json=bad), 400, "voltage")
    assert refused["message"].startswith("At least 100 of 10000 readings are invalid")
    assert len(refused["details"]) == 100
    assert await postgres.aquery(database, "SELECT count(*) FROM meter_readings") == [["0"]]

    accepted = await client.post("/v1/ingest/batch", json=good)
    assert accepted.json() == {"status": "ok", "count": 4000, "meters": 4000, "vehicles": 0}
    assert await postgres.aquery(database, "SELECT count(*) FROM meter_readings") == [["4000"]]


BATCH_BODY_LIMIT = 10 * 1024 * 1024


def _peak_memory(pid: int) -> int:
    """A process's peak resident memory so far, in bytes (Linux's VmHWM)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024
    raise AssertionError(f"no VmHWM for {pid}")


@pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="reads Linux's /proc")
@pytest.mark.parametrize("line", [b"[]", b"1", b'"x"', b"null", b"{}"])
async def test_ndjson_of_millions_of_tiny_lines_is_refused_within_bounds(
    postgres: Postgres, line: bytes
) -> None:
    """10 MiB of NDJSON lines that are not objects: once 762 MB in the worker for lines of
    ``[]`` and half a minute of CPU for lines of ``1``, where lines of ``{`` were refused in
    milliseconds; now all are counted before any is decoded. The worker's peak memory grows by
    a small multiple of the body, and it serves normally after."""
    env = {"DATABASE_URL": postgres.url(postgres.create_database())}
    body = (line + b"\n") * (BATCH_BODY_LIMIT // (len(line) + 1))
    async with (
        daemon_process.running(env, "--workers", "1") as (process, url),
        httpx.AsyncClient(base_url=url, timeout=IO_TIMEOUT_S) as client,
    ):
        assert (await client.get("/healthz")).status_code == 200
        before = _peak_memory(process.pid)
        response = await client.post(
            "/v1/ingest/batch", content=body, headers={"Content-Type": "application/x-ndjson"}
        )
        grown = _peak_memory(process.pid) - before
        assert "10000 readings" in assert_error(response, 400)["message"]
        assert (await client.post("/v1/ingest/batch", json=[meter()])).status_code == 201
        await daemon_process.stop(process)
    assert grown < 6 * len(body), f"peak memory grew by {grown / 2**20:.0f} MiB"
