"""The daemon as its users run it: ``ingestd`` as a process, stopped by a signal.

Nothing acknowledged is lost on SIGTERM, and the process exits 0. Also: a fresh data
directory and no database URL start the embedded PostgreSQL.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
from pathlib import Path

import httpx
import pytest
import trio

from tests.conftest import IO_TIMEOUT_S, Postgres
from tests.support import at, meter, vehicle


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


async def _start(env: dict[str, str], *args: str) -> tuple[trio.Process, str]:
    port = _free_port()
    process = await trio.lowlevel.open_process(
        [sys.executable, "-m", "daemon", "--port", str(port), *args],
        env={**os.environ, **env},
        stderr=subprocess.PIPE,
    )
    url = f"http://127.0.0.1:{port}"
    async with httpx.AsyncClient(base_url=url) as http:
        while True:
            try:
                if (await http.get("/readyz")).status_code == 200:
                    return process, url
            except httpx.TransportError:
                pass
            assert process.returncode is None, "ingestd exited during start-up"
            await trio.sleep(0.1)


async def _stop(process: trio.Process) -> list[dict[str, object]]:
    """SIGTERM, wait, and return the structured log lines it wrote."""
    process.send_signal(signal.SIGTERM)
    assert process.stderr is not None
    chunks = []
    async for chunk in process.stderr:
        chunks.append(chunk)
    assert await process.wait() == 0
    lines = b"".join(chunks).decode().splitlines()
    return [json.loads(line) for line in lines]


# The daemon cuts its connections at the end of the drain, sometimes while httpx is still
# writing a request; httpx then drops the body's unfinished async generator, which Python
# reports as an unraisable exception in the client.
@pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")
async def test_readings_acknowledged_before_sigterm_are_all_stored(
    postgres: Postgres, database: str
) -> None:
    process, url = await _start(
        {
            "DATABASE_URL": postgres.url(database),
            "INGEST_LINGER_MS": "200",
            "INGEST_ACK_TIMEOUT_S": "2",
        }
    )
    acknowledged: set[tuple[str, str]] = set()
    enough = trio.Event()
    stopped = trio.Event()

    async def device(n: int, http: httpx.AsyncClient) -> None:
        minute = 0
        while not stopped.is_set():
            minute += 1
            reading = vehicle(f"v-{n}", ts=at(minutes_ago=minute))
            try:
                response = await http.post("/v1/ingest", json=reading)
            except httpx.TransportError:
                return
            if response.status_code == 201:
                acknowledged.add((reading["vehicleId"], reading["timestamp"]))
                if len(acknowledged) >= 200:
                    enough.set()
            else:
                assert response.status_code == 503, response.text

    async with (
        httpx.AsyncClient(base_url=url, timeout=IO_TIMEOUT_S) as http,
        trio.open_nursery() as nursery,
    ):
        for n in range(20):
            nursery.start_soon(device, n, http)
        await enough.wait()
        logs = await _stop(process)
        stopped.set()
    stored = await postgres.vehicle_readings(database)
    assert len(acknowledged) >= 200
    assert acknowledged <= stored, f"lost: {sorted(acknowledged - stored)[:5]}"
    assert any(entry["msg"] == "stopped" for entry in logs)
    assert all({"ts", "level", "logger", "msg"} <= set(entry) for entry in logs)


async def test_embedded_database_from_a_fresh_data_dir(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    process, url = await _start({}, "--data-dir", str(data_dir))
    async with httpx.AsyncClient(base_url=url, timeout=IO_TIMEOUT_S) as http:
        assert (await http.post("/v1/ingest", json=meter("m-e"))).status_code == 201
        assert (await http.get("/v1/status/meter/m-e")).status_code == 200
    logs = await _stop(process)
    assert (data_dir / "pg" / "PG_VERSION").exists()
    starting = next(entry for entry in logs if entry["msg"] == "starting")
    assert isinstance(starting["config"], dict)
    assert starting["config"]["database"] == "embedded"
