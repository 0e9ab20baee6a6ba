"""The daemon behind PgBouncer in transaction mode, as the deployment it replaces ran behind the
Supabase pooler: migrations apply through the pooler, every call answers as it does on a direct
connection, and a restart of the pooler under load loses no acknowledged reading.

Transaction pooling hands a client's next transaction to whichever server connection is free,
so nothing that lives in a session may be relied on: no named prepared statements, no SET, no
session advisory locks, no LISTEN. The pooler here keeps fewer server connections than the
daemon opens under load, so the daemon's connections take turns on them.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import AsyncIterator
from functools import partial
from typing import Any

import httpx
import pytest
import trio

from daemon.config import Config
from daemon.process.supervisor import Running, run
from daemon.store import migrations
from tests import daemon_process, pgbouncer
from tests.conftest import IO_TIMEOUT_S, Postgres
from tests.pgbouncer import PgBouncer
from tests.support import at, eventually, meter, vehicle
from tests.test_fleet import link
from tests.test_rollups import assert_folded, assert_rollups_exact, clear_of_the_hour

pytestmark = [
    pytest.mark.skipif(pgbouncer.binary() is None, reason=pgbouncer.MISSING),
    pytest.mark.every_postgres,
]

# What differs between two answers to the same question a moment apart, or from two processes:
# the analytics' exact window ends at the moment of the call, the summary says when it was
# computed and what its own process has done.
_OF_THE_MOMENT = {"windowStart", "windowEnd", "asOf", "engine"}


@pytest.fixture
async def bouncer(postgres: Postgres) -> AsyncIterator[PgBouncer]:
    executable = pgbouncer.binary()
    assert executable is not None
    async with pgbouncer.running(executable, postgres) as running:
        yield running


@pytest.fixture
def config(config: Config, bouncer: PgBouncer, database: str) -> Config:
    """The suite's daemon, on the pooler alone: it has no direct URL to fall back on."""
    return dataclasses.replace(
        config,
        database_url=None,
        database_pool_url=bouncer.url(database),
        use_database_pooler=True,
    )


def _of_the_database(response: httpx.Response) -> tuple[int, object]:
    """A response's status and body, without what depends on when or by whom it was answered."""
    if not response.content:
        return response.status_code, None
    body: Any = response.json()
    if isinstance(body, dict):
        body = {key: value for key, value in body.items() if key not in _OF_THE_MOMENT}
    return response.status_code, body


async def _write_through(client: httpx.AsyncClient) -> None:
    """Every kind of write, through the pooled daemon: links made, replaced and deleted; single
    readings, a JSON batch and an NDJSON batch, some replacing others, some raising alerts."""
    for vehicle_id, meter_id in (("v-0", "m-0"), ("v-1", "m-1"), ("v-2", "m-1"), ("v-3", "m-3")):
        await link(client, vehicle_id, meter_id)
    await link(client, "v-0", "m-2")
    assert (await client.delete("/v1/links/v-3")).status_code == 204
    assert (await client.delete("/v1/links/v-3")).status_code == 404
    for reading in (meter("m-0", kwh=0.4), vehicle("v-0", kwh=0.3, temp=47.0)):
        response = await client.post("/v1/ingest", json=reading)
        assert response.status_code == 201, response.text
    history = [
        reading
        for minutes in (10, 70, 130)
        for reading in (
            meter("m-1", kwh=1.1, voltage=0.0 if minutes == 10 else 231.0, ts=at(minutes)),
            meter("m-2", kwh=0.7, ts=at(minutes)),
            vehicle("v-0", kwh=0.6, ts=at(minutes)),
            vehicle("v-1", kwh=0.9, temp=25.5, ts=at(minutes)),
            vehicle("v-2", kwh=0.1, ts=at(minutes)),
        )
    ]
    response = await client.post("/v1/ingest/batch", json=history)
    assert response.status_code == 201, response.text
    assert response.json()["count"] == len(history)
    again = [{**reading, "voltage": 229.0} for reading in history if "meterId" in reading]
    response = await client.post(
        "/v1/ingest/batch",
        content="".join(json.dumps(reading) + "\n" for reading in again),
        headers={"Content-Type": "application/x-ndjson"},
    )
    assert response.status_code == 201, response.text


_READS = (
    "/v1/links/v-0",
    "/v1/links/v-3",
    "/v1/status/vehicle/v-0",
    "/v1/status/meter/m-1",
    "/v1/status/meter/m-404",
    "/v1/analytics/performance/v-0",
    "/v1/analytics/performance/v-2?hours=2",
    "/v1/analytics/performance/v-3",
    "/v1/analytics/performance/v-1/hourly",
    "/v1/analytics/performance/v-2/hourly?hours=3",
    "/v1/fleet/summary",
    "/v1/fleet/vehicles",
    "/v1/fleet/vehicles?sort=efficiency&order=desc&limit=1",
    "/v1/fleet/vehicles?alerts=true",
    "/v1/fleet/meters?sort=voltage&limit=2",
    "/v1/fleet/meters?q=M-1",
    "/readyz",
)


async def test_every_call_answers_through_the_pooler_as_it_does_directly(
    client: httpx.AsyncClient, config: Config, postgres: Postgres, database: str
) -> None:
    applied = await postgres.aquery(database, "SELECT version FROM schema_migrations")
    assert sorted(int(version) for (version,) in applied) == [
        migration.version for migration in migrations.load()
    ], "the pooled daemon, started first on a fresh database, migrated it through the pooler"
    await clear_of_the_hour()  # the hourly views of both daemons must end at the same hour
    await _write_through(client)
    await assert_folded(postgres, database)

    direct_config = dataclasses.replace(
        config,
        database_url=postgres.url(database),
        database_pool_url=None,
        use_database_pooler=None,
    )
    async with trio.open_nursery() as nursery:
        direct: Running = await nursery.start(run, direct_config)
        async with httpx.AsyncClient(base_url=direct.url, timeout=IO_TIMEOUT_S) as straight:
            compared = 0
            for path in _READS:
                pooled = await client.get(path)
                assert pooled.status_code < 500, pooled.text
                assert _of_the_database(pooled) == _of_the_database(await straight.get(path))
                cursor = pooled.json().get("nextCursor") if pooled.content else None
                while cursor:  # and the lists' next pages, by the pooled daemon's cursors
                    following = httpx.URL(path).copy_merge_params({"cursor": cursor})
                    pooled = await client.get(following)
                    assert pooled.status_code == 200, pooled.text
                    page = await straight.get(following)
                    assert _of_the_database(pooled) == _of_the_database(page)
                    cursor = pooled.json()["nextCursor"]
                    compared += 1
                compared += 1
        direct.stop.set()
    assert compared > len(_READS), "some list had a next page"


async def test_no_acknowledged_reading_is_lost_when_the_pooler_restarts_under_load(
    client: httpx.AsyncClient, bouncer: PgBouncer, postgres: Postgres, database: str
) -> None:
    acknowledged: set[tuple[str, str]] = set()
    after_restart = 0
    restarted = trio.Event()
    done = trio.Event()

    async def device(n: int) -> None:
        """Single readings, and every third request a batch of five, until told to stop."""
        nonlocal after_restart
        minute = 0
        while not done.is_set():
            size = 5 if minute % 3 == 0 else 1
            readings = [
                vehicle(f"v-{n}", soc=float(minute % 100), ts=at(minutes_ago=minute + k))
                for k in range(size)
            ]
            minute += size
            if size == 1:
                response = await client.post("/v1/ingest", json=readings[0])
            else:
                response = await client.post("/v1/ingest/batch", json=readings)
            if response.status_code == 201:
                acknowledged.update((r["vehicleId"], r["timestamp"]) for r in readings)
                after_restart += size if restarted.is_set() else 0
                if after_restart >= 300:
                    done.set()
            else:
                assert response.status_code == 503, response.text

    async def enough_before() -> bool:
        return len(acknowledged) >= 200

    async def readiness_is(status: int) -> bool:
        return (await client.get("/readyz")).status_code == status

    async with trio.open_nursery() as nursery:
        for n in range(8):
            nursery.start_soon(device, n)
        await eventually(enough_before)
        await bouncer.kill()
        await eventually(partial(readiness_is, 503))  # the daemon noticed
        await bouncer.start()
        restarted.set()

    stored = await postgres.vehicle_readings(database)
    lost = acknowledged - stored
    print(f"PgBouncer restarted: {len(acknowledged)} acknowledged, {len(lost)} lost")
    assert not lost, f"{len(lost)} of {len(acknowledged)} acknowledged readings lost"
    await eventually(partial(readiness_is, 200))
    await assert_rollups_exact(postgres, database)


# As in test_workers: the drain can cut a connection while httpx still writes a request.
@pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")
async def test_two_worker_processes_migrate_and_drain_through_the_pooler(
    bouncer: PgBouncer, postgres: Postgres, database: str
) -> None:
    env = {"DATABASE_POOL_URL": bouncer.url(database)}
    async with daemon_process.running(env, "--workers", "2", "--log-level", "info") as (
        process,
        url,
    ):
        acknowledged, logs = await daemon_process.post_until_stopped(
            process, url, devices=8, enough=100
        )

    (started,) = [entry["config"] for entry in logs if entry["msg"] == "starting"]
    assert isinstance(started, dict)
    assert started["database"] == "pooler"
    schema = [entry["applied_migrations"] for entry in logs if entry["msg"] == "schema up to date"]
    assert len(schema) == 2, "one line from each worker"
    applied = sorted(
        version for versions in schema if isinstance(versions, list) for version in versions
    )
    assert applied == [m.version for m in migrations.load()], (
        "both workers migrated through the pooler, and each file was applied once"
    )
    stored = await postgres.vehicle_readings(database)
    assert acknowledged <= stored, f"lost: {sorted(acknowledged - stored)[:5]}"
