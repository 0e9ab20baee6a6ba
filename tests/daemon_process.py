"""``ingestd`` as a real process, as its users run it: started, awaited, stopped by a signal."""

from __future__ import annotations

import json
import os
import resource
import signal
import socket
import subprocess
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import httpx
import trio

from tests.support import at, vehicle


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@asynccontextmanager
async def running(
    env: dict[str, str], *args: str, port: int | None = None, open_files: int | None = None
) -> AsyncIterator[tuple[trio.Process, str]]:
    """``python -m daemon``, once it answers ready; killed on the way out if the test left it
    running (its workers, if any, follow their parent). On ``port``, or any free one; with at
    most ``open_files`` descriptors (soft and hard limit), if given."""
    port = port or _free_port()

    def limit() -> None:
        if open_files is not None:
            resource.setrlimit(resource.RLIMIT_NOFILE, (open_files, open_files))

    process = await trio.lowlevel.open_process(
        [sys.executable, "-m", "daemon", "--port", str(port), *args],
        env={**os.environ, **env},
        stderr=subprocess.PIPE,
        preexec_fn=limit,
    )
    try:
        url = f"http://127.0.0.1:{port}"
        await _ready(process, url)
        yield process, url
    finally:
        if process.returncode is None:
            process.kill()
        with trio.CancelScope(shield=True):
            await process.wait()
            assert process.stderr is not None
            await process.stderr.aclose()


async def _ready(process: trio.Process, url: str) -> None:
    async with httpx.AsyncClient(base_url=url) as http:
        while True:
            try:
                if (await http.get("/readyz")).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            assert process.returncode is None, "ingestd exited during start-up"
            await trio.sleep(0.1)


async def logs_until_exit(process: trio.Process) -> tuple[int, list[dict[str, object]]]:
    """Wait for the process to end; its exit code and the structured log lines it wrote."""
    assert process.stderr is not None
    chunks = []
    async for chunk in process.stderr:
        chunks.append(chunk)
    code = await process.wait()
    lines = b"".join(chunks).decode().splitlines()
    return code, [json.loads(line) for line in lines]


async def stop(process: trio.Process) -> list[dict[str, object]]:
    """SIGTERM, wait for a clean exit, and return the structured log lines it wrote."""
    process.send_signal(signal.SIGTERM)
    code, logs = await logs_until_exit(process)
    assert code == 0, logs[-5:]
    return logs


async def post_until_stopped(
    process: trio.Process, url: str, *, devices: int, enough: int
) -> tuple[set[tuple[str, str]], list[dict[str, object]]]:
    """Devices post readings, each on its own connection, until ``enough`` are acknowledged;
    then SIGTERM while they go on. Returns what was acknowledged, and the daemon's logs."""
    acknowledged: set[tuple[str, str]] = set()
    got_enough = trio.Event()
    stopped = trio.Event()

    async def device(n: int) -> None:
        async with httpx.AsyncClient(base_url=url, timeout=60) as http:
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
                    if len(acknowledged) >= enough:
                        got_enough.set()
                else:
                    assert response.status_code == 503, response.text

    async with trio.open_nursery() as nursery:
        for n in range(devices):
            nursery.start_soon(device, n)
        await got_enough.wait()
        logs = await stop(process)
        stopped.set()
    return acknowledged, logs


async def failed_start(env: dict[str, str], *args: str) -> tuple[int, list[str]]:
    """``python -m daemon`` that is expected to give up while starting: its exit code and the
    raw lines of its stderr (raw, so that a test can tell a traceback from a log line)."""
    done = await trio.run_process(
        [sys.executable, "-m", "daemon", *args],
        env={**os.environ, **env},
        capture_stderr=True,
        check=False,
    )
    return done.returncode, done.stderr.decode().splitlines()


def alive(pid: int) -> bool:
    """Running, and not a zombie that its parent has yet to reap."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except FileNotFoundError:
        return False
    return state != "Z"


def embedded_server(pgdata: Path) -> tuple[str, list[int]]:
    """The running embedded server of ``pgdata``: its URL, and its postmaster's pid followed
    by those of the postmaster's children (the whole server)."""
    pid, _, _, port, socket_dir, *_ = (pgdata / "postmaster.pid").read_text().splitlines()
    url = f"postgresql://postgres@/postgres?host={socket_dir}&port={port.strip()}"
    return url, [int(pid), *children(int(pid))]


def children(pid: int) -> list[int]:
    """Child processes, whichever of the process's threads started them."""
    return [
        int(child)
        for task in Path(f"/proc/{pid}/task").iterdir()
        for child in (task / "children").read_text().split()
    ]


async def listening(url: str) -> int:
    """How many sockets listen on the port of ``url`` (the workers that serve it), from the
    kernel's table of sockets."""
    port = f":{int(url.rsplit(':', 1)[1]):04X}"
    table = await trio.Path("/proc/net/tcp").read_text()
    rows = [line.split() for line in table.splitlines()[1:]]
    return sum(1 for row in rows if row[1].endswith(port) and row[3] == "0A")
