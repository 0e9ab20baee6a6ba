"""Several worker processes sharing one port (``--workers 2``), as a real ``ingestd``.

Readings go through both workers; SIGTERM to the parent drains both and loses nothing
acknowledged; a worker that dies is replaced, and workers that keep dying take the daemon down,
visibly; workers do not outlive a parent that was killed, and the next start clears what a
killed parent left.
"""

from __future__ import annotations

import os
import re
import signal
import tempfile
from functools import partial
from pathlib import Path

import httpx
import pytest
import trio

from tests import acks, daemon_process
from tests.conftest import Postgres
from tests.support import eventually


async def _none_running(pids: list[int]) -> bool:
    return not any(daemon_process.alive(pid) for pid in pids)


_TWO_WORKERS = ("--workers", "2", "--log-level", "info")


async def _both_listen(url: str) -> bool:
    """Both workers listen on the port. The first answers ``/readyz`` before the second has
    started, so a test that needs both waits for this."""
    return await daemon_process.listening(url) == 2


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


async def test_a_killed_worker_is_replaced_under_load_and_nothing_acknowledged_is_lost(
    postgres: Postgres, database: str, tmp_path: Path
) -> None:
    """Once a worker's death took the whole daemon down; now the parent starts another in its
    place while the other serves, the load generator's every request is answered (it retries a
    connection the dead worker held), and the dead worker's gauges leave /metrics."""
    url_of_database, ack_log = postgres.url(database), tmp_path / "acks.tsv"
    async with daemon_process.running(_env(postgres, database), *_TWO_WORKERS) as (process, url):
        await eventually(lambda: _both_listen(url))
        async with trio.open_nursery() as nursery:
            nursery.start_soon(partial(acks.load, url, ack_log, "k-", seconds=6))
            await eventually(partial(acks.stored, url_of_database, "k-"))
            killed = daemon_process.children(process.pid)[0]
            os.kill(killed, signal.SIGKILL)

            async def replaced() -> bool:
                workers = daemon_process.children(process.pid)
                return len(workers) == 2 and killed not in workers

            await eventually(replaced)
            await eventually(lambda: _both_listen(url))
        async with httpx.AsyncClient(base_url=url) as http:
            exposition = (await http.get("/metrics")).text
        live = {str(pid) for pid in daemon_process.children(process.pid)}
        logs = await daemon_process.stop(process)

    tally = await acks.tally(url_of_database, ack_log, "k-")
    print(f"a worker killed under load: {tally.acknowledged} acknowledged, {len(tally.lost)} lost")
    assert tally.acknowledged > 0
    assert tally.lost == [], tally.lost[:5]
    shown = set(re.findall(r'ingest_worker_resident_memory_bytes\{pid="(\d+)"', exposition))
    assert shown == live, "a gauge of every live worker, and none of the dead one"
    assert len(re.findall(r"^ingest_queue_depth\{", exposition, re.MULTILINE)) == 2
    told = [e for e in logs if str(e["msg"]).startswith("a worker exited on its own")]
    assert [e["pid"] for e in told] == [killed]


async def test_workers_that_keep_dying_take_the_daemon_down_saying_why(
    postgres: Postgres, database: str
) -> None:
    """Deaths past the restart policy are a fault that starting again will not fix: the parent
    stops the rest in order and exits 1 with one sentence, rather than looping."""
    async with daemon_process.running(_env(postgres, database), *_TWO_WORKERS) as (process, url):
        await eventually(lambda: _both_listen(url))
        killed: set[int] = set()
        with trio.fail_after(60):
            while process.poll() is None:
                for pid in set(daemon_process.children(process.pid)) - killed:
                    os.kill(pid, signal.SIGKILL)
                    killed.add(pid)
                await trio.sleep(0.02)
        code, logs = await daemon_process.logs_until_exit(process)

    assert code == 1
    (critical,) = [e for e in logs if e["level"] == "critical"]
    assert str(critical["msg"]).startswith("workers keep dying (6 deaths within 60 s)")
    assert len(killed) == 6, "the sixth death within the minute was not answered"
    assert not any(daemon_process.alive(pid) for pid in killed)


def _metric_folders() -> set[Path]:
    return set(Path(tempfile.gettempdir()).glob("ingestd-*"))


async def test_a_killed_parent_leaves_its_metric_files_to_the_next_start(
    postgres: Postgres, database: str
) -> None:
    """A parent killed with kill -9 cannot remove its folder of metric files; the next start
    removes it, and no folder of a daemon still running."""
    before = _metric_folders()
    async with daemon_process.running(_env(postgres, database), *_TWO_WORKERS) as (other, _):
        others = _metric_folders() - before
        async with daemon_process.running(_env(postgres, database), *_TWO_WORKERS) as (killed, _):
            left = _metric_folders() - before - others
            workers = daemon_process.children(killed.pid)
            killed.kill()
            await killed.wait()
        await eventually(lambda: _none_running(workers))
        assert len(left) == 1
        assert left <= _metric_folders(), "left behind by kill -9"
        async with daemon_process.running(_env(postgres, database), *_TWO_WORKERS) as (next_, _):
            assert not left & _metric_folders(), "removed at the next start"
            assert others <= _metric_folders(), "a live daemon's folder stays"
            await daemon_process.stop(next_)
        await daemon_process.stop(other)


async def test_workers_stop_when_their_parent_is_killed(postgres: Postgres, database: str) -> None:
    async with daemon_process.running(_env(postgres, database), *_TWO_WORKERS) as (process, _):
        workers = daemon_process.children(process.pid)
        process.kill()
        await process.wait()

    await eventually(lambda: _none_running(workers))
