"""The daemon killed with ``kill -9`` while it runs on the embedded PostgreSQL.

The server it started runs on: the next daemon on the same data directory adopts it, owns it
(stops it when it stops) and loses nothing that was acknowledged. Under load from the real
load generator, at random moments, several times in a row.
"""

from __future__ import annotations

import os
import random
import signal
from collections.abc import Iterator
from contextlib import AsyncExitStack
from functools import partial
from pathlib import Path

import httpx
import pytest
import trio

from daemon.embedded import postmaster
from daemon.embedded.server import Embedded
from tests import acks, daemon_process
from tests.support import eventually

_TRIALS = 3
# Short, so that a worker left by a killed parent is gone soon after (it drains for the ack
# timeout plus a second before it lets go of the port).
_ENV = {"INGEST_ACK_TIMEOUT_S": "2"}


@pytest.fixture
def data_dir(tmp_path: Path) -> Iterator[Path]:
    """A data directory whose server, if a failed test leaves one running, is stopped."""
    yield tmp_path / "data"
    if postmaster.read(tmp_path / "data" / "pg") is not None:
        Embedded(tmp_path / "data" / "pg").stop()


def _args(data_dir: Path, workers: int = 1) -> tuple[str, ...]:
    return ("--data-dir", str(data_dir), "--workers", str(workers))


async def test_the_next_daemon_owns_the_server_a_killed_one_left(data_dir: Path) -> None:
    async with daemon_process.running(_ENV, *_args(data_dir)) as (killed, _):
        _, server = daemon_process.embedded_server(data_dir / "pg")
        killed.kill()
    # The postmaster: the backends that served the killed daemon end with its connections.
    assert daemon_process.alive(server[0]), "the server outlives the daemon"

    async with daemon_process.running(_ENV, *_args(data_dir)) as (process, _):
        code, lines = await daemon_process.failed_start(_ENV, *_args(data_dir), "--port", "0")
        assert code == 1
        assert f"in use by another ingestd (pid {process.pid})" in lines[-1]
        logs = await daemon_process.stop(process)

    assert any(str(e["msg"]).startswith("adopting the embedded PostgreSQL") for e in logs)
    assert not any(daemon_process.alive(pid) for pid in server), "stopped with its new owner"


async def test_kill_9_under_load_loses_nothing_acknowledged(tmp_path: Path, data_dir: Path) -> None:
    seed = random.randrange(2**32)
    moments = random.Random(seed)
    port = daemon_process._free_port()
    pgdata = data_dir / "pg"
    figures: list[str] = []
    async with AsyncExitStack() as daemons:
        # The first trial kills the parent of two workers, the others a one-process daemon.
        process, url = await daemons.enter_async_context(
            daemon_process.running(_ENV, *_args(data_dir, workers=2), port=port)
        )
        for trial in range(_TRIALS):
            prefix, ack_log = f"t{trial}-", tmp_path / f"acks-{trial}.tsv"
            database, server = daemon_process.embedded_server(pgdata)
            async with trio.open_nursery() as nursery:
                nursery.start_soon(partial(acks.load, url, ack_log, prefix, seconds=4))
                await eventually(partial(acks.stored, database, prefix))
                await trio.sleep(moments.uniform(0.0, 1.5))
                workers = daemon_process.children(process.pid)
                process.kill()
                await eventually(partial(trio.to_thread.run_sync, _all_gone, workers))
                process, url = await daemons.enter_async_context(
                    daemon_process.running(_ENV, *_args(data_dir), port=port)
                )
            assert daemon_process.embedded_server(pgdata)[1][0] == server[0], "adopted"
            tally = await acks.tally(database, ack_log, prefix)
            figures.append(
                f"trial {trial}: {tally.acknowledged} acknowledged, {len(tally.lost)} lost"
            )
            assert tally.acknowledged > 0
            assert tally.lost == [], f"seed {seed}: {figures}: {tally.lost[:5]}"
        await daemon_process.stop(process)
    print(f"seed {seed}:", "; ".join(figures))
    assert not any(daemon_process.alive(pid) for pid in server), "no server left behind"


def _all_gone(pids: list[int]) -> bool:
    return not any(daemon_process.alive(pid) for pid in pids)


@pytest.mark.parametrize("workers", [1, 2], ids=["one-worker", "two-workers"])
async def test_the_embedded_server_killed_under_load_is_started_again(
    tmp_path: Path, data_dir: Path, workers: int
) -> None:
    """Once the daemon answered 503 for as long as anyone waited, and never started the server
    again. Now whoever owns it (the parent of several workers, or the one process) starts it
    again on the same socket: readiness comes back by itself, and nothing acknowledged is lost."""
    ack_log = tmp_path / "acks.tsv"
    async with daemon_process.running(_ENV, *_args(data_dir, workers)) as (process, url):
        # Every worker serving first: one still starting when the server dies fails to start,
        # which stops the daemon, as any failure to start does.
        await eventually(lambda: _all_listen(url, workers))
        database, server = daemon_process.embedded_server(data_dir / "pg")
        async with trio.open_nursery() as nursery:
            nursery.start_soon(partial(acks.load, url, ack_log, "p-", seconds=8))
            await eventually(partial(acks.stored, database, "p-"))
            os.kill(server[0], signal.SIGKILL)

            async def started_again() -> bool:
                pid = int((data_dir / "pg" / "postmaster.pid").read_text().split()[0])
                return pid != server[0] and daemon_process.alive(pid)

            await eventually(started_again)
            async with httpx.AsyncClient(base_url=url) as http:
                await eventually(partial(_ready, http))
        tally = await acks.tally(database, ack_log, "p-")
        logs = await daemon_process.stop(process)
    print(f"the embedded postmaster killed ({workers} workers): {tally.acknowledged} acknowledged")
    assert tally.acknowledged > 0
    assert tally.lost == [], tally.lost[:5]
    assert [e["msg"] for e in logs].count("the embedded PostgreSQL runs again") == 1
    assert [e["msg"] for e in logs].count("embedded PostgreSQL stopped") == 1


async def _all_listen(url: str, workers: int) -> bool:
    return await daemon_process.listening(url) == workers


async def _ready(http: httpx.AsyncClient) -> bool:
    return (await http.get("/readyz")).status_code == 200


async def test_an_embedded_server_that_cannot_start_again_stops_the_daemon(data_dir: Path) -> None:
    """Its files damaged, the server cannot start: the daemon tries as its policy allows, then
    stops with one sentence that names the server's log, rather than trying forever."""
    async with daemon_process.running(_ENV, *_args(data_dir)) as (process, _):
        _, server = daemon_process.embedded_server(data_dir / "pg")
        (data_dir / "pg" / "global" / "pg_control").unlink()
        os.kill(server[0], signal.SIGKILL)
        with trio.fail_after(120):
            code, logs = await daemon_process.logs_until_exit(process)
    assert code == 1
    (critical,) = [e for e in logs if e["level"] == "critical"]
    assert str(critical["msg"]).startswith("the embedded PostgreSQL keeps stopping (6 deaths")
    assert str(critical["msg"]).endswith(f"see its log, {(data_dir / 'pg' / 'log').resolve()}")
