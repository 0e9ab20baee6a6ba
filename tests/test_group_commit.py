"""Group commit: what arrives while a writer's commit runs waits for it, then rides on the next
commit, all in one statement (that a free writer commits at once is a matter of latency, which
the benchmark measures).

A statement's rows share ``received_at`` (``now()`` is the transaction's start), which is how
the test tells commits apart; a lock held from another session keeps the first commit running
for as long as the test needs.
"""

from __future__ import annotations

import subprocess
from dataclasses import replace

import httpx
import trio

from daemon.config import Config
from daemon.process.supervisor import Running, run
from tests.conftest import IO_TIMEOUT_S, Postgres
from tests.support import eventually, meter


async def _post_ok(client: httpx.AsyncClient, payload: object) -> None:
    response = await client.post("/v1/ingest", json=payload)
    assert response.status_code == 201, response.text


async def test_readings_arriving_during_a_commit_ride_on_the_next_one(
    config: Config, postgres: Postgres, database: str
) -> None:
    locker = await trio.lowlevel.open_process(
        [str(postgres.bin_path / "psql"), "-XAtq", postgres.url(database)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
    )
    assert locker.stdin is not None
    assert locker.stdout is not None

    async def writer_waits_on_the_lock() -> bool:
        rows = await postgres.aquery(
            database,
            "SELECT count(*) FROM pg_stat_activity"
            " WHERE application_name = 'ingestd' AND wait_event_type = 'Lock'",
        )
        return rows == [["1"]]

    async with trio.open_nursery() as nursery:
        running: Running = await nursery.start(run, replace(config, shards=1))
        async with httpx.AsyncClient(base_url=running.url, timeout=IO_TIMEOUT_S) as client:
            await locker.stdin.send_all(
                b"BEGIN; LOCK TABLE meter_latest IN ACCESS EXCLUSIVE MODE; SELECT 'locked';\n"
            )
            assert b"locked" in await locker.stdout.receive_some()
            async with trio.open_nursery() as posts:
                posts.start_soon(_post_ok, client, meter("m-first"))
                await eventually(writer_waits_on_the_lock)
                for n in range(5):
                    posts.start_soon(_post_ok, client, meter(f"m-{n}"))
                await trio.sleep(0.5)  # ordering slack: the five reach the writer's inbox
                await locker.stdin.send_all(b"COMMIT;\n")
        running.stop.set()
    await locker.stdin.aclose()
    await locker.wait()

    rows = await postgres.aquery(
        database, "SELECT meter_id, received_at FROM meter_readings ORDER BY meter_id"
    )
    received = {row[0]: row[1] for row in rows}
    first = received.pop("m-first")
    assert sorted(received) == [f"m-{n}" for n in range(5)]
    assert len(set(received.values())) == 1, "the five rode on one commit"
    assert first not in received.values(), "the first was committed on its own, before them"
