"""The tests' PostgreSQL servers, of every major version the daemon supports (18, 16, 15),
started as ``bench.postgres`` starts them, with what the tests ask of them."""

from __future__ import annotations

import subprocess
import uuid
from pathlib import Path

import pytest
import trio

from bench import postgres as servers

VERSIONS = (18, 16, 15)
"""Every version the tests marked ``every_postgres`` run on, in this order."""
DEFAULT_VERSION = 18
"""The version of every other test: the daemon's embedded one."""


def skip_unless_installed(version: int) -> None:
    """Skip the test, saying what to install, if ``version`` is not there."""
    why = servers.missing(version)
    if why is not None:
        pytest.skip(why)


class Postgres(servers.Server):
    """A running server, plus a way to run SQL on it without going through the daemon."""

    def create_database(self) -> str:
        name = f"t_{uuid.uuid4().hex[:12]}"
        self.query("postgres", f"CREATE DATABASE {name}")
        return name

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


def start(version: int, directory: Path) -> Postgres:
    """A new server of ``version``, its files in ``directory`` (which exists)."""
    return servers.start(version, directory, Postgres)


class Registry:
    """The session's servers: one of each version, started on first use, each in a folder of
    its own under ``directory``."""

    def __init__(self, directory: Path) -> None:
        self._directory = directory
        self._started: dict[int, Postgres] = {}
        self._failed: dict[int, BaseException] = {}

    def get(self, version: int) -> Postgres:
        """The server of ``version``, started now if this is the first call; one that failed
        to start fails every later call at once."""
        if version in self._failed:
            raise RuntimeError(f"PostgreSQL {version} did not start") from self._failed[version]
        if version not in self._started:
            folder = self._directory / f"pg{version}"
            folder.mkdir()
            try:
                self._started[version] = start(version, folder)
            except Exception as error:
                self._failed[version] = error
                raise
        return self._started[version]

    def stop(self) -> None:
        """Stop every server started; the first failure is raised once all were tried."""
        failures: list[BaseException] = []
        for server in self._started.values():
            try:
                server.stop()
            except (OSError, subprocess.SubprocessError) as error:
                failures.append(error)
        if failures:
            raise failures[0]
