"""GET /metrics (API.md, "Health and metrics"): Prometheus's text format, by its naming
conventions, counting what the daemon did; and, with several worker processes, covering all
of them whichever worker answers, as the fleet summary's engine figures do."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import httpx
import pytest
import trio
from prometheus_client.metrics_core import Metric
from prometheus_client.parser import text_string_to_metric_families
from prometheus_client.samples import Sample

from daemon.ingest.batch import Added
from daemon.metrics.recorder import Metrics
from tests import daemon_process
from tests.conftest import IO_TIMEOUT_S, Postgres
from tests.support import assert_error, at, eventually, meter, vehicle
from tests.test_workers import _both_listen

Families = dict[str, Metric]


async def scrape(client: httpx.AsyncClient) -> Families:
    response = await client.get("/metrics")
    assert response.status_code == 200, response.text
    return {family.name: family for family in text_string_to_metric_families(response.text)}


def samples(families: Families, name: str, **labels: str) -> list[Sample]:
    """The samples called ``name`` (of whichever family) whose labels include ``labels``."""
    return [
        sample
        for family in families.values()
        for sample in family.samples
        if sample.name == name and labels.items() <= sample.labels.items()
    ]


def total(families: Families, name: str, **labels: str) -> float:
    return sum(sample.value for sample in samples(families, name, **labels))


def label_values(families: Families) -> Iterable[str]:
    for family in families.values():
        for sample in family.samples:
            yield from sample.labels.values()


async def post_ok(client: httpx.AsyncClient, path: str, body: object) -> None:
    response = await client.post(path, json=body)
    assert response.status_code == 201, response.text


async def test_metrics_are_prometheus_text(client: httpx.AsyncClient) -> None:
    response = await client.get("/metrics")
    assert response.status_code == 200
    media_type, *parameters = [p.strip() for p in response.headers["content-type"].split(";")]
    assert media_type == "text/plain"
    assert "version=0.0.4" in parameters, response.headers["content-type"]
    families = {f.name: f for f in text_string_to_metric_families(response.text)}
    for family in families.values():
        assert family.documentation, f"{family.name} has a help text"
        if family.type == "counter":
            assert all(s.name.endswith(("_total", "_created")) for s in family.samples)
        if family.type == "histogram":
            assert family.name.endswith(("_seconds", "_rows")), family.name
    types = {name: family.type for name, family in families.items()}
    assert types["ingest_readings_accepted"] == "counter"
    assert types["ingest_readings_rejected"] == "counter"
    assert types["ingest_readings_replaced"] == "counter"
    assert types["ingest_http_requests"] == "counter"
    assert types["ingest_http_request_duration_seconds"] == "histogram"
    assert types["ingest_flush_duration_seconds"] == "histogram"
    assert types["ingest_flush_rows"] == "histogram"
    assert types["ingest_flush_retries"] == "counter"
    assert types["ingest_queue_depth"] == "gauge"
    # The process collector's figures, and the same per worker.
    for name in ("process_resident_memory_bytes", "process_open_fds", "process_cpu_seconds"):
        assert name in families, name
    assert total(families, "process_resident_memory_bytes") > 0
    assert total(families, "ingest_worker_resident_memory_bytes") > 0
    assert total(families, "ingest_worker_open_fds") > 0
    assert total(families, "ingest_workers") == 1
    # The connection that asked for the metrics is open while they are read.
    assert total(families, "ingest_http_connections") >= 1
    assert total(families, "ingest_start_time_seconds") > 0
    assert total(families, "ingest_flush_retries_total") == 0
    depths = samples(families, "ingest_queue_depth")
    assert sorted((s.labels["worker"], s.labels["shard"]) for s in depths) == [
        ("0", "0"),
        ("0", "1"),
        ("0", "2"),
    ]
    assert all(s.value >= 0 for s in depths)


async def _counted_requests(
    client: httpx.AsyncClient, expected: Mapping[tuple[str, ...], int]
) -> Families:
    """A scrape once every expected request is counted: a request is counted just after its
    answer left, so the client may ask before the count is in. Then the counts are exact."""
    for _ in range(100):
        families = await scrape(client)
        counts = {
            key: total(
                families, "ingest_http_requests_total", route=key[0], method=key[1], status=key[2]
            )
            for key in expected
        }
        if counts == expected:
            return families
        await trio.sleep(0.02)
    assert counts == expected
    return families


async def test_metrics_count_readings_requests_and_flushes(client: httpx.AsyncClient) -> None:
    ts = at(minutes_ago=3)
    # One after the other, so that each request is its own commit(s).
    await post_ok(client, "/v1/ingest", meter("m-metrics-1", kwh=1.0, ts=ts))
    await post_ok(client, "/v1/ingest", vehicle("v-metrics-1", ts=ts))
    batch = [meter(f"m-metrics-{n}") for n in range(2, 5)] + [
        vehicle(f"v-metrics-{n}") for n in range(2, 4)
    ]
    await post_ok(client, "/v1/ingest/batch", batch)
    # The same meter and timestamp again: it replaces the stored reading.
    await post_ok(client, "/v1/ingest", meter("m-metrics-1", kwh=2.0, ts=ts))
    # Twice one key in one batch: the second replaces the first in the same commit.
    twice = at(minutes_ago=1)
    await post_ok(
        client,
        "/v1/ingest/batch",
        [vehicle("v-metrics-9", ts=twice), vehicle("v-metrics-9", soc=1, ts=twice)],
    )
    assert_error(await client.post("/v1/ingest", json={**meter("m-metrics-x"), "voltage": -1}), 400)
    assert_error(await client.post("/v1/ingest/batch", json=[meter("m-metrics-y"), {"x": 1}]), 400)
    assert (await client.get("/v1/status/vehicle/v-metrics-1")).status_code == 200
    assert (await client.get("/v1/status/meter/m-metrics-404")).status_code == 404
    assert (
        await client.put("/v1/links", json={"vehicleId": "v-metrics-1", "meterId": "m-metrics-1"})
    ).status_code == 200
    assert (await client.get("/v1/links/v-metrics-1")).status_code == 200
    assert (await client.get("/v1/analytics/performance/v-metrics-1")).status_code == 200
    assert (await client.get("/v1/analytics/performance/v-metrics-1/hourly")).status_code == 200
    assert (await client.get("/v1/fleet/vehicles", params={"q": "v-metrics-1"})).status_code == 200
    assert (await client.get("/v2/v-metrics-1")).status_code == 404
    assert (await client.request("BREW", "/healthz")).status_code == 405

    families = await _counted_requests(
        client,
        {
            ("/v1/ingest", "POST", "201"): 3,
            ("/v1/ingest", "POST", "400"): 1,
            ("/v1/ingest/batch", "POST", "201"): 2,
            ("/v1/ingest/batch", "POST", "400"): 1,
            ("/v1/status/vehicle/{vehicleId}", "GET", "200"): 1,
            ("/v1/status/meter/{meterId}", "GET", "404"): 1,
            ("/v1/links", "PUT", "200"): 1,
            ("/v1/links/{vehicleId}", "GET", "200"): 1,
            ("/v1/analytics/performance/{vehicleId}", "GET", "200"): 1,
            ("/v1/analytics/performance/{vehicleId}/hourly", "GET", "200"): 1,
            ("/v1/fleet/vehicles", "GET", "200"): 1,
            ("unmatched", "GET", "404"): 1,
            ("/healthz", "other", "405"): 1,
        },
    )
    assert total(families, "ingest_readings_accepted_total", kind="meter") == 5
    assert total(families, "ingest_readings_accepted_total", kind="vehicle") == 5
    assert total(families, "ingest_readings_replaced_total", kind="meter") == 1
    assert total(families, "ingest_readings_replaced_total", kind="vehicle") == 1
    assert total(families, "ingest_readings_rejected_total", kind="unknown") == 2
    assert total(families, "ingest_readings_rejected_total", kind="meter") == 0
    # Rows written per commit: 1, 1, the batch's 5 (over its shards), 1, and 1 for the twice.
    assert total(families, "ingest_flush_rows_sum") == 9
    commits = total(families, "ingest_flush_rows_count")
    assert 5 <= commits <= 7, "the batch of 5 went to at most 3 shards"
    assert total(families, "ingest_flush_duration_seconds_count") == commits
    assert total(families, "ingest_flush_duration_seconds_sum") > 0
    buckets = samples(families, "ingest_flush_duration_seconds_bucket")
    assert max(s.value for s in buckets) == commits
    assert [
        s.value for s in samples(families, "ingest_flush_duration_seconds_bucket", le="+Inf")
    ] == [commits]

    # Latency by route template and method, one observation per request answered.
    route = {"route": "/v1/ingest", "method": "POST"}
    assert total(families, "ingest_http_request_duration_seconds_count", **route) == 4
    cumulative = [
        (float(s.labels["le"]), s.value)
        for s in samples(families, "ingest_http_request_duration_seconds_bucket", **route)
    ]
    assert cumulative == sorted(cumulative), "buckets are cumulative"
    assert cumulative[-1] == (float("inf"), 4)
    assert total(families, "ingest_http_request_duration_seconds_sum", **route) > 0

    # No device id in any label: one series per route, never per device.
    assert not [value for value in label_values(families) if "metrics-" in value]
    routes = {s.labels["route"] for s in samples(families, "ingest_http_requests_total")}
    assert all(r.startswith("/") or r == "unmatched" for r in routes), routes

    summary = (await client.get("/v1/fleet/summary")).json()
    assert summary["engine"]["accepted"] == 10
    assert summary["engine"]["rejected"] == 2


# The daemon answers 413 from Content-Length without reading the body; httpx then drops its
# unfinished upload generator, which Python reports as an unraisable exception in the client.
@pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")
async def test_a_body_over_the_limit_counts_as_one_rejected(client: httpx.AsyncClient) -> None:
    padded = {**meter("m-big"), "pad": "x" * (70 * 1024)}
    assert_error(await client.post("/v1/ingest", json=padded), 413)
    families = await scrape(client)
    assert total(families, "ingest_readings_rejected_total", kind="unknown") == 1
    assert total(families, "ingest_readings_rejected_total") == 1
    assert total(families, "ingest_readings_accepted_total") == 0


# --- several worker processes ---------------------------------------------------------------------


async def test_metrics_and_summary_cover_every_worker(postgres: Postgres, database: str) -> None:
    devices, each = 16, 15
    env = {"DATABASE_URL": postgres.url(database)}
    async with daemon_process.running(env, "--workers", "2", "--log-level", "info") as (
        process,
        url,
    ):
        workers = daemon_process.children(process.pid)
        assert len(workers) == 2
        await eventually(lambda: _both_listen(url))

        async def device(n: int) -> None:
            # A connection per device: the kernel spreads connections over the workers.
            async with httpx.AsyncClient(base_url=url, timeout=IO_TIMEOUT_S) as http:
                for minute in range(each):
                    reading = vehicle(f"v-{n:02d}", ts=at(minutes_ago=minute))
                    await post_ok(http, "/v1/ingest", reading)

        async with trio.open_nursery() as nursery:
            for n in range(devices):
                nursery.start_soon(device, n)
        posted = devices * each

        # Whichever worker answers (a new connection each time), the figures are the same.
        for _ in range(6):
            async with httpx.AsyncClient(base_url=url, timeout=IO_TIMEOUT_S) as http:
                families = await scrape(http)
                assert total(families, "ingest_readings_accepted_total") == posted
                assert total(families, "ingest_readings_accepted_total", kind="vehicle") == posted
                assert total(families, "ingest_workers") == 2
                depths = samples(families, "ingest_queue_depth")
                assert sorted(s.labels["worker"] for s in depths) == ["0", "1"]
                memory = samples(families, "ingest_worker_resident_memory_bytes")
                assert sorted(int(s.labels["pid"]) for s in memory) == sorted(workers)
                assert all(s.value > 0 for s in memory)
                summary: dict[str, Any] = (await http.get("/v1/fleet/summary")).json()
                engine = summary["engine"]
                assert engine["accepted"] == posted
                assert engine["workers"] == 2
                assert len(engine["queueDepth"]) == 2
                assert engine["database"] == "ok"
                assert summary["vehicles"]["total"] == devices

        async with httpx.AsyncClient(base_url=url, timeout=IO_TIMEOUT_S) as http:
            await _counted_requests(http, {("/v1/ingest", "POST", "201"): posted})
        logs = await daemon_process.stop(process)

    committed = {
        entry["worker"]: entry["readings_committed"]
        for entry in logs
        if entry["msg"] == "stopped" and "worker" in entry
    }
    assert set(committed) == {0, 1}
    assert all(isinstance(n, int) and n > 0 for n in committed.values()), (
        f"both workers took readings: {committed}"
    )
    assert sum(n for n in committed.values() if isinstance(n, int)) == posted


def test_the_summary_s_engine_figures_are_read_at_most_once_a_second() -> None:
    """Reading every worker's metric files was a fifth of a worker's CPU under summary reads;
    the figures are reused for a second, the sampler's own period."""
    metrics = Metrics(worker=0, workers=1)
    first = metrics.engine(now=1000.0)
    metrics.committed(1, 0, Added(meters=1, vehicles=0), rows=1, seconds=0.01)

    assert metrics.engine(now=1000.9) is first
    assert metrics.engine(now=1001.0).accepted == first.accepted + 1
