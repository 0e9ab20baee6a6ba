"""PostgreSQL restarts under load: writers retry, requests wait or get 503, and every reading
that was acknowledged is stored. (It restarts the session's server, so it leaves it as it was
found: up, with every other test's database intact.)"""

from __future__ import annotations

import httpx
import trio

from tests.conftest import Postgres
from tests.support import at, eventually, vehicle


async def test_acknowledged_readings_survive_a_postgres_restart(
    client: httpx.AsyncClient, postgres: Postgres, database: str
) -> None:
    started_sql = "SELECT pg_postmaster_start_time()"
    before = await postgres.aquery(database, started_sql)
    acknowledged: set[tuple[str, str]] = set()
    answers: dict[int, int] = {}
    restarted = trio.Event()

    async def device(n: int) -> None:
        for minute in range(400):
            reading = vehicle(f"v-{n}", soc=float(minute % 100), ts=at(minutes_ago=minute))
            response = await client.post("/v1/ingest", json=reading)
            answers[response.status_code] = answers.get(response.status_code, 0) + 1
            if response.status_code == 201:
                acknowledged.add((reading["vehicleId"], reading["timestamp"]))
            else:
                assert response.status_code == 503, response.text
                assert int(response.headers["Retry-After"]) >= 1
            if restarted.is_set() and len(acknowledged) > 600:
                return

    async with trio.open_nursery() as nursery:
        for n in range(8):
            nursery.start_soon(device, n)
        await eventually(lambda: trio.to_thread.run_sync(lambda: len(acknowledged) > 200))
        await trio.to_thread.run_sync(postgres.restart)
        restarted.set()

    assert await postgres.aquery(database, started_sql) != before, "the server restarted"
    stored = await postgres.vehicle_readings(database)
    assert len(acknowledged) > 600
    assert acknowledged <= stored, f"lost: {sorted(acknowledged - stored)[:5]}"
    assert (await client.get("/readyz")).json() == {"status": "ready"}
    assert answers.get(201, 0) == len(acknowledged)
