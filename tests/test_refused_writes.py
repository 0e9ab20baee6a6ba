"""A flush the database refuses for a reason retrying will not fix: its requests answer 500 in
the contract's shape, readiness says why, and the writer goes on. Once one such error stopped
every worker (PostgreSQL 16 refusing PostgreSQL 18's RETURNING old on the first reading)."""

from __future__ import annotations

import httpx

from tests.conftest import Postgres
from tests.support import assert_error, at, meter, vehicle

_REFUSE_METERS = "ALTER TABLE meter_pending ADD CONSTRAINT refuse CHECK (false) NOT VALID"


async def test_a_refused_flush_answers_500_and_the_writer_goes_on(
    client: httpx.AsyncClient, postgres: Postgres, database: str
) -> None:
    await postgres.aquery(database, _REFUSE_METERS)

    error = assert_error(await client.post("/v1/ingest", json=meter("m-1", ts=at(1))), 500)
    assert "not all stored" in error["message"]
    ready = await client.get("/readyz")
    assert ready.status_code == 503
    assert ready.json()["reason"].startswith("PostgreSQL refused the last flush")

    assert (await client.post("/v1/ingest", json=vehicle("v-1"))).status_code == 201
    assert (await client.get("/readyz")).status_code == 200
    await postgres.aquery(database, "ALTER TABLE meter_pending DROP CONSTRAINT refuse")
    assert (await client.post("/v1/ingest", json=meter("m-1", ts=at(2)))).status_code == 201

    stored = await postgres.aquery(database, "SELECT count(*) FROM meter_readings")
    assert stored == [["1"]], "the refused flush stored nothing"
    metrics = (await client.get("/metrics")).text
    assert 'ingest_database_errors_total{kind="error"} 1.0' in metrics
