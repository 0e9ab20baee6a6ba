"""What the benchmark starts: one PostgreSQL (18, or another with ``--postgres``), and
``ingestd`` processes on it.

Every daemon gets a database of its own on the one server, so that runs against one cannot
slow the rows of another through locks or bloat; all of them are started before the first
run, so that the runs being compared can be interleaved.
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Final

import asyncpg
import httpx

from bench import postgres

log = logging.getLogger(__name__)

VERSIONS: Final = [v for v in range(15, 19) if postgres.missing(v) is None]
"""The PostgreSQL versions the benchmark can run on here: the wheel's, and the system's."""
DEFAULT_VERSION: Final = 18

_READY_TIMEOUT_S = 120.0
_STOP_TIMEOUT_S = 90.0


class Postgres:
    """The benchmark's one server, of the version asked for (``bench.postgres``)."""

    def __init__(self, directory: Path, version: int) -> None:
        self._server = postgres.start(version, directory, postgres.Server)

    def create_database(self, name: str) -> str:
        self._server.query("postgres", f"CREATE DATABASE {name}")
        return self._server.url(name)

    def close(self) -> None:
        self._server.stop()


def settle(database_url: str) -> None:
    """Bring a database just loaded in bulk to where it would be minutes later: the rollups'
    pending changes folded, every table vacuumed (visibility map set, so that the covering
    keys serve index-only scans) and analysed, and the dirty pages written out. Reads measured
    right after a load measure autovacuum and the checkpoint catching up instead."""

    async def run() -> None:
        conn = await asyncpg.connect(database_url)
        try:
            await conn.execute("SELECT fold_rollups(true)")
            await conn.execute("VACUUM (ANALYZE)")
            await conn.execute("CHECKPOINT")
        finally:
            await conn.close()

    asyncio.run(run())


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _peak_rss_mb(pid: int) -> float:
    """The process's high-water mark of resident memory (VmHWM), in MB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    raise ValueError(f"no VmHWM for pid {pid}")


@dataclass
class Daemon:
    name: str
    url: str
    database_url: str
    workers: int
    process: subprocess.Popen[bytes]

    def serving_pids(self) -> list[int]:
        """The processes that serve requests: the workers, or the daemon itself if alone."""
        if self.workers == 1:
            return [self.process.pid]
        # Children are listed under the thread that started them, whichever it was.
        tasks = Path(f"/proc/{self.process.pid}/task").iterdir()
        return [int(pid) for task in tasks for pid in (task / "children").read_text().split()]

    def peak_memory_mb(self) -> list[float]:
        return [round(_peak_rss_mb(pid), 1) for pid in self.serving_pids()]

    def stop(self) -> None:
        self.process.send_signal(signal.SIGTERM)
        code = self.process.wait(_STOP_TIMEOUT_S)
        if code != 0:
            raise RuntimeError(f"{self.name}: ingestd exited with code {code}")


def start_daemon(
    name: str, database_url: str, *, workers: int, settings: dict[str, str], log_to: IO[bytes]
) -> Daemon:
    """``ingestd`` with ``workers`` processes and further ``settings`` (environment variables)."""
    port = _free_port()
    env = {
        **os.environ,
        "DATABASE_URL": database_url,
        "PORT": str(port),
        "INGEST_WORKERS": str(workers),
        "INGEST_LOG_LEVEL": "warning",
        **settings,
    }
    process = subprocess.Popen(
        [sys.executable, "-m", "daemon"], env=env, stdin=subprocess.DEVNULL, stderr=log_to
    )
    return Daemon(name, f"http://127.0.0.1:{port}", database_url, workers, process)


def wait_ready(daemon: Daemon) -> None:
    deadline = time.monotonic() + _READY_TIMEOUT_S
    while time.monotonic() < deadline:
        if daemon.process.poll() is not None:
            raise RuntimeError(
                f"{daemon.name}: ingestd exited with code {daemon.process.returncode}"
            )
        try:
            if httpx.get(f"{daemon.url}/readyz", timeout=5).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    raise RuntimeError(f"{daemon.name}: not ready after {_READY_TIMEOUT_S:g} s")
