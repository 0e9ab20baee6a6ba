"""The load generator against a real daemon, run as a user runs it: injected faults, then
``--verify`` must find every acknowledged reading, and nothing else, in the engine's answers.
(``start_loadgen`` is shared with the tests of runs that end early.)"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import trio

from daemon.process.supervisor import Running
from tests.support import eventually


async def _loadgen(
    *args: str, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[bytes]:
    return await trio.run_process(
        [sys.executable, "-m", "loadgen", *args],
        capture_stdout=True,
        capture_stderr=True,
        check=False,
        env={**os.environ, **(env or {})},
    )


class Started:
    """A load generator running in the background: its output so far, and its end."""

    def __init__(self, process: trio.Process) -> None:
        self.process = process
        self.stdout = bytearray()
        self.stderr = bytearray()
        self._closed = trio.Event()

    async def wait_for_stderr(self, text: str) -> None:
        async def seen() -> bool:
            return text.encode() in self.stderr

        await eventually(seen)

    async def finished(self) -> int:
        """Its exit status, once it has exited and all its output is read."""
        code = await self.process.wait()
        await self._closed.wait()
        return code


@asynccontextmanager
async def start_loadgen(*args: str) -> AsyncIterator[Started]:
    """``python -m loadgen ARGS`` in the background; killed on the way out if still running."""
    process = await trio.lowlevel.open_process(
        [sys.executable, "-m", "loadgen", *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    started = Started(process)

    async def read(stream: trio.abc.ReceiveStream | None, into: bytearray) -> None:
        assert stream is not None
        async with stream:
            async for chunk in stream:
                into.extend(chunk)

    async def read_both() -> None:
        async with trio.open_nursery() as readers:
            readers.start_soon(read, process.stdout, started.stdout)
            readers.start_soon(read, process.stderr, started.stderr)
        started._closed.set()

    async with trio.open_nursery() as nursery:
        nursery.start_soon(read_both)
        try:
            yield started
        finally:
            if process.returncode is None:
                process.kill()


async def test_replay_with_faults_verifies_with_zero_mismatches(
    daemon: Running, tmp_path: Path
) -> None:
    summary, acks = tmp_path / "summary.json", tmp_path / "acks.tsv"
    done = await _loadgen(
        "replay",
        "--url",
        daemon.url,
        "--sites",
        "30",
        "--hours",
        "2",
        "--batch",
        "100",
        "--concurrency",
        "8",
        "--out-of-order",
        "0.05",
        "--duplicates",
        "0.05",
        "--invalid",
        "0.01",
        "--clock-ahead",
        "0.01",
        "--verify",
        "--json",
        str(summary),
        "--ack-log",
        str(acks),
    )
    assert done.returncode == 0, done.stderr.decode() + done.stdout.decode()
    result: dict[str, Any] = json.loads(summary.read_text())
    data_set = 30 * 120 * 2
    assert result["readings_acked"] >= data_set, "every reading, duplicates on top"
    assert result["readings_acked"] == result["readings_sent"]
    assert result["unexpected"] == 0
    assert result["faults_rejected"] > 0
    assert result["verification"] == {
        "planned": 30,
        "checked": 30,
        "unverifiable": 0,
        "mismatch_count": 0,
        "mismatches": [],
    }
    assert len(acks.read_text().splitlines()) == result["readings_acked"]
    assert "readings per second" in done.stdout.decode()


async def test_open_loop_single_posts_in_two_processes(daemon: Running, tmp_path: Path) -> None:
    summary = tmp_path / "summary.json"
    done = await _loadgen(
        "rate",
        "--rate",
        "200",
        "--duration-s",
        "3",
        "--url",
        daemon.url,
        "--sites",
        "40",
        "--processes",
        "2",
        "--concurrency",
        "8",
        "--verify",
        "--json",
        str(summary),
    )
    assert done.returncode == 0, done.stderr.decode() + done.stdout.decode()
    result = json.loads(summary.read_text())
    assert result["readings_acked"] == 600
    assert result["statuses"] == {"201": 600}
    assert result["verification"]["checked"] == 40
    assert result["verification"]["mismatch_count"] == 0
    assert result["latency_ms"]["p50"] is not None


async def test_verify_catches_readings_the_engine_has_that_were_not_acknowledged(
    daemon: Running, tmp_path: Path
) -> None:
    common = ["--url", daemon.url, "--sites", "5", "--batch", "50", "--verify"]
    first = await _loadgen("replay", "--hours", "2", "--seed", "1", *common)
    assert first.returncode == 0, first.stderr.decode()
    # Same devices, another seed, a shorter window: the engine still holds the first run's
    # older hour, which this run never sent, so the 24-hour counts cannot match.
    second = await _loadgen("replay", "--hours", "1", "--seed", "2", *common)
    assert second.returncode == 1
    assert "mismatch" in second.stdout.decode()
    # The same run with devices of its own verifies clean.
    third = await _loadgen("replay", "--hours", "1", "--seed", "2", "--id-prefix", "run3-", *common)
    assert third.returncode == 0, third.stdout.decode()
    assert "run3-" not in third.stdout.decode(), "no mismatch lines name its devices"
