"""PostgreSQL killed under load (``kill -9`` of the postmaster: no shutdown, no checkpoint,
every connection cut) and started again: the daemon stays up, turns unready and ready again by
itself, answers 503 with Retry-After meanwhile, and loses nothing it acknowledged.

The server is the test's own (one in a temporary directory, of each version the daemon supports,
given to the daemon by URL), not the session's, which other tests share.
"""

from __future__ import annotations

import os
import signal
from collections.abc import Iterator
from functools import partial
from pathlib import Path

import httpx
import pytest
import trio

from daemon.config import Config
from daemon.embedded import postmaster
from daemon.process.supervisor import Running, run
from tests import acks, daemon_process, postgres_servers
from tests.conftest import IO_TIMEOUT_S, Postgres
from tests.support import eventually, vehicle

pytestmark = pytest.mark.every_postgres

_PREFIX = "pg-crash-"


@pytest.fixture
def server(postgres_version: int, tmp_path: Path) -> Iterator[Postgres]:
    postgres_servers.skip_unless_installed(postgres_version)
    own = postgres_servers.start(postgres_version, tmp_path)
    yield own
    if postmaster.read(own.pgdata) is not None:
        own.stop()


async def _readiness(http: httpx.AsyncClient, status: int) -> bool:
    return (await http.get("/readyz")).status_code == status


async def test_a_killed_postgres_costs_no_acknowledged_reading(
    server: Postgres, tmp_path: Path
) -> None:
    url, processes = daemon_process.embedded_server(server.pgdata)
    config = Config(
        host="127.0.0.1",
        port=0,
        database_url=url,
        shards=2,
        ack_timeout_s=1.0,
        fold_interval_s=0.2,
        log_level="warning",
    )
    ack_log = tmp_path / "acks.tsv"
    async with trio.open_nursery() as nursery:
        daemon: Running = await nursery.start(run, config)
        async with (
            httpx.AsyncClient(base_url=daemon.url, timeout=IO_TIMEOUT_S) as http,
            trio.open_nursery() as load,
        ):
            load.start_soon(partial(acks.load, daemon.url, ack_log, _PREFIX, seconds=6))
            await eventually(partial(acks.stored, url, _PREFIX))

            os.kill(processes[0], signal.SIGKILL)
            await eventually(partial(_readiness, http, 503))
            meanwhile = await http.post("/v1/ingest", json=vehicle(f"{_PREFIX}probe"))
            assert meanwhile.status_code == 503, meanwhile.text
            assert int(meanwhile.headers["Retry-After"]) >= 1
            assert (await http.get("/healthz")).status_code == 200, "the daemon stays up"
            # Its processes gone, the server may start again on the same files.
            await eventually(partial(trio.to_thread.run_sync, _gone, server.pgdata, processes))
            await trio.to_thread.run_sync(server.start)
            await eventually(partial(_readiness, http, 200))
            ready_again_with = len(await acks.stored(url, _PREFIX))
        daemon.stop.set()

    tally = await acks.tally(url, ack_log, _PREFIX)
    print(f"PostgreSQL killed: {tally.acknowledged} acknowledged, {len(tally.lost)} lost")
    assert tally.lost == [], tally.lost[:5]
    assert len(await acks.stored(url, _PREFIX)) > ready_again_with, "the writers went on"


def _gone(pgdata: Path, processes: list[int]) -> bool:
    """No process of the server is left, and the postmaster is not even a zombie (PostgreSQL
    takes a zombie's pid in postmaster.pid for a running server)."""
    children = processes[1:]
    return postmaster.read(pgdata) is None and not any(map(daemon_process.alive, children))
