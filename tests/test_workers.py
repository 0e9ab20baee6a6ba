"""Several worker processes sharing one port (``--workers 2``), as a real ``ingestd``.

Readings go through both workers; SIGTERM to the parent drains both and loses nothing
acknowledged; a worker that dies takes the daemon down, visibly; and workers do not outlive a
parent that was killed.
"""

from __future__ import annotations

import os
import signal

import pytest
import trio

from tests import daemon_process
from tests.conftest import Postgres
from tests.support import eventually


async def _none_running(pids: list[int]) -> bool:
    return not any(daemon_process.alive(pid) for pid in pids)


_TWO_WORKERS = ("--workers", "2", "--log-level", "info")


async def _both_listen(url: str) -> bool:
    """Both workers listen on the port. The first answers ``/readyz`` before the second has
    started, so a test that needs both waits for this (the kernel's table of sockets)."""
    port = f":{int(url.rsplit(':', 1)[1]):04X}"
    table = await trio.Path("/proc/net/tcp").read_text()
    rows = [line.split() for line in table.splitlines()[1:]]
    return sum(1 for row in rows if row[1].endswith(port) and row[3] == "0A") == 2


def _env(postgres: Postgres, database: str) -> dict[str, str]:
    return {"DATABASE_URL": postgres.url(database), "INGEST_ACK_TIMEOUT_S": "2"}


# The daemon cuts its connections at the end of the drain, sometimes while httpx is still
# writing a request; httpx then drops the body's unfinished async generator, which Python
# reports as an unraisable exception in the client.
@pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")
async def test_two_workers_share_the_load_and_sigterm_drains_both(
    postgres: Postgres, database: str
) -> None:
    async with daemon_process.running(_env(postgres, database), *_TWO_WORKERS) as (process, url):
        assert len(daemon_process.children(process.pid)) == 2
        await eventually(lambda: _both_listen(url))
        # A connection per device: the kernel spreads connections over the workers.
        acknowledged, logs = await daemon_process.post_until_stopped(
            process, url, devices=16, enough=400
        )

    stored = await postgres.vehicle_readings(database)
    assert acknowledged <= stored, f"lost: {sorted(acknowledged - stored)[:5]}"
    committed = {
        entry["worker"]: entry["readings_committed"]
        for entry in logs
        if entry["msg"] == "stopped" and "worker" in entry
    }
    assert set(committed) == {0, 1}, "both workers stopped cleanly"
    assert all(isinstance(n, int) and n > 0 for n in committed.values()), committed
    assert any(entry["msg"] == "stopped" and "worker" not in entry for entry in logs)


async def test_a_worker_that_dies_takes_the_daemon_down(postgres: Postgres, database: str) -> None:
    async with daemon_process.running(_env(postgres, database), *_TWO_WORKERS) as (process, _):
        workers = daemon_process.children(process.pid)
        os.kill(workers[0], signal.SIGKILL)
        code, logs = await daemon_process.logs_until_exit(process)

    assert code == 1
    assert any(entry["level"] == "critical" for entry in logs)
    survivor = [e for e in logs if e["msg"] == "stopped" and "worker" in e]
    assert len(survivor) == 1, "the other worker was stopped in order"
    assert not any(daemon_process.alive(pid) for pid in workers)


async def test_workers_stop_when_their_parent_is_killed(postgres: Postgres, database: str) -> None:
    async with daemon_process.running(_env(postgres, database), *_TWO_WORKERS) as (process, _):
        workers = daemon_process.children(process.pid)
        process.kill()
        await process.wait()

    await eventually(lambda: _none_running(workers))
