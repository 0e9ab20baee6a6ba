"""The daemon as its users run it: ``ingestd`` as a process, stopped by a signal.

Nothing acknowledged is lost on SIGTERM, and the process exits 0. Also: a fresh data
directory and no database URL start the embedded PostgreSQL.
"""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from tests import daemon_process
from tests.conftest import IO_TIMEOUT_S, Postgres
from tests.support import meter


# The daemon cuts its connections at the end of the drain, sometimes while httpx is still
# writing a request; httpx then drops the body's unfinished async generator, which Python
# reports as an unraisable exception in the client.
@pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")
async def test_readings_acknowledged_before_sigterm_are_all_stored(
    postgres: Postgres, database: str
) -> None:
    env = {
        "DATABASE_URL": postgres.url(database),
        "INGEST_LINGER_MS": "200",
        "INGEST_ACK_TIMEOUT_S": "2",
    }
    async with daemon_process.running(env, "--workers", "1") as (process, url):
        acknowledged, logs = await daemon_process.post_until_stopped(
            process, url, devices=20, enough=200
        )
    stored = await postgres.vehicle_readings(database)
    assert len(acknowledged) >= 200
    assert acknowledged <= stored, f"lost: {sorted(acknowledged - stored)[:5]}"
    assert any(entry["msg"] == "stopped" for entry in logs)
    assert all({"ts", "level", "logger", "msg"} <= set(entry) for entry in logs)


async def test_embedded_database_from_a_fresh_data_dir(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    async with daemon_process.running({}, "--data-dir", str(data_dir)) as (process, url):
        async with httpx.AsyncClient(base_url=url, timeout=IO_TIMEOUT_S) as http:
            assert (await http.post("/v1/ingest", json=meter("m-e"))).status_code == 201
            assert (await http.get("/v1/status/meter/m-e")).status_code == 200
        logs = await daemon_process.stop(process)
    assert (data_dir / "pg" / "PG_VERSION").exists()
    starting = next(entry for entry in logs if entry["msg"] == "starting")
    assert isinstance(starting["config"], dict)
    assert starting["config"]["database"] == "embedded"
