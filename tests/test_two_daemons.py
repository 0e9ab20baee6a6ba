"""Two daemons on one database, as two hosts behind a load balancer with no routing affinity:
readings of the same devices, the same timestamps with different values, out of order, sent to
either at random and to both at once. The database alone decides (the dedupe key and the
latest-state guard), so both daemons answer the same, and history, latest state and rollups
agree exactly with what was acknowledged last per device and timestamp."""

from __future__ import annotations

import random
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta

import httpx
import pytest
import trio

from daemon.config import Config
from daemon.process.supervisor import run
from tests.conftest import IO_TIMEOUT_S, Postgres
from tests.support import vehicle

# Consistency on every PostgreSQL version the daemon supports.
pytestmark = pytest.mark.every_postgres

DEVICES = 10
MINUTES = 10


@asynccontextmanager
async def _daemons(config: Config) -> AsyncIterator[list[httpx.AsyncClient]]:
    async with trio.open_nursery() as nursery:
        first = await nursery.start(run, config)
        second = await nursery.start(run, config)
        async with (
            httpx.AsyncClient(base_url=first.url, timeout=IO_TIMEOUT_S) as a,
            httpx.AsyncClient(base_url=second.url, timeout=IO_TIMEOUT_S) as b,
        ):
            yield [a, b]
        first.stop.set()
        second.stop.set()


async def test_either_daemon_may_take_any_reading(
    config: Config, postgres: Postgres, database: str
) -> None:
    rng = random.Random(7)
    start = datetime.now(UTC).replace(second=0, microsecond=0) - timedelta(minutes=MINUTES)
    stamps = [
        (start + timedelta(minutes=m)).isoformat().replace("+00:00", "Z") for m in range(MINUTES)
    ]
    # Every device and minute twice, with different energy, in random order.
    sends = [
        (f"v-{d}", ts, rng.choice((0.5, 1.0, 2.0, 3.5)))
        for d in range(DEVICES)
        for ts in stamps
        for _ in range(2)
    ]
    rng.shuffle(sends)

    async with _daemons(config) as daemons:
        async with trio.open_nursery() as nursery:
            for device, ts, kwh in sends:
                nursery.start_soon(_post, rng.choice(daemons), vehicle(device, kwh=kwh, ts=ts))

        stored = await postgres.aquery(
            database,
            "SELECT count(*), count(DISTINCT (vehicle_id, ts)) FROM vehicle_readings",
        )
        assert stored == [[str(DEVICES * MINUTES)] * 2]
        latest = await postgres.aquery(
            database, "SELECT vehicle_id, ts = $$" + stamps[-1] + "$$ FROM vehicle_latest"
        )
        assert {device for device, newest in latest if newest == "t"} == {
            f"v-{d}" for d in range(DEVICES)
        }
        answers = [
            [
                (await daemon.get(f"/v1/fleet/vehicles?limit=500&sort={key}")).json()["items"]
                for key in ("id", "efficiency")
            ]
            for daemon in daemons
        ]
        assert answers[0] == answers[1]
        hourly_vs_history = await postgres.aquery(
            database,
            "SELECT (SELECT sum(kwh_delivered_dc) FROM vehicle_readings)"
            " = (SELECT sum(dc_kwh) FROM vehicle_hourly)"
            " + (SELECT coalesce(sum(dc_kwh), 0) FROM vehicle_pending_changes)",
        )
        assert hourly_vs_history == [["t"]]


async def _post(daemon: httpx.AsyncClient, reading: dict[str, object]) -> None:
    response = await daemon.post("/v1/ingest", json=reading)
    assert response.status_code == 201, response.text
