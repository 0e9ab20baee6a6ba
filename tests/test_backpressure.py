"""A 503 is an invitation to retry, never a silent drop: turned away at a full queue stores
nothing; timed out waiting for the commit may still be stored, and a retry is then harmless."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import replace

import httpx
import pytest
import trio

from daemon.config import Config
from daemon.process.supervisor import run
from tests.conftest import IO_TIMEOUT_S, Postgres
from tests.support import assert_error, at, eventually, meter


@pytest.fixture
async def slow_client(config: Config) -> AsyncIterator[httpx.AsyncClient]:
    """A daemon whose writers linger 3 s before each commit; its requests wait 0.3 s at most."""
    slow = replace(
        config,
        shards=1,
        linger_ms=3000,
        max_batch=100_000,
        queue_readings=10_000,
        ack_timeout_s=0.3,
    )
    async with trio.open_nursery() as nursery:
        running = await nursery.start(run, slow)
        async with httpx.AsyncClient(base_url=running.url, timeout=IO_TIMEOUT_S) as http:
            yield http
        running.stop.set()


async def test_commit_timeout_is_503_with_retry_after_and_the_reading_lands_later(
    slow_client: httpx.AsyncClient, postgres: Postgres, database: str
) -> None:
    reading = meter("m-slow", ts=at(minutes_ago=1))
    response = await slow_client.post("/v1/ingest", json=reading)
    assert_error(response, 503)
    assert int(response.headers["Retry-After"]) >= 1
    await eventually(lambda: postgres.aquery(database, "SELECT 1 FROM meter_readings"))
    retry = await slow_client.post("/v1/ingest", json=reading)
    assert retry.status_code in {201, 503}
    rows = await postgres.aquery(database, "SELECT count(*) FROM meter_readings")
    assert rows == [["1"]], "a retried reading replaces itself"


async def test_full_queue_is_503_and_stores_nothing_of_that_request(
    slow_client: httpx.AsyncClient, postgres: Postgres, database: str
) -> None:
    filler = [meter(f"m-{i}", ts=at(minutes_ago=1)) for i in range(10_000)]
    # Times out (0.3 s) but holds the whole queue for the 3 s linger.
    assert (await slow_client.post("/v1/ingest/batch", json=filler)).status_code == 503
    turned_away = await slow_client.post("/v1/ingest", json=meter("m-extra"))
    body = assert_error(turned_away, 503)
    assert turned_away.headers["Retry-After"] == "1"
    assert "nothing was stored" in body["message"]
    await eventually(lambda: postgres.aquery(database, "SELECT 1 FROM meter_readings LIMIT 1"))
    rows = await postgres.aquery(
        database,
        "SELECT count(*), count(*) FILTER (WHERE meter_id = 'm-extra') FROM meter_readings",
    )
    assert rows == [["10000", "0"]]
