"""What a user reads when the daemon cannot start: one structured line on stderr, at critical,
that names the cause and what to do, no traceback (unless asked for with the debug level), and
exit code 1 (the world is not as needed) or 2 (a setting is wrong). The same with one worker
process or several, since the parent and the workers fail in different places.
"""

from __future__ import annotations

import json
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests import daemon_process
from tests.conftest import Postgres

_WORKERS = pytest.mark.parametrize("workers", ["1", "2"], ids=["one-worker", "two-workers"])


def _the_one_failure(lines: list[str]) -> str:
    """Every line is a log record, and exactly one says why the daemon gave up; its message."""
    records = [json.loads(line) for line in lines]
    failures = [r for r in records if r["level"] in {"critical", "error"}]
    assert len(failures) == 1, lines
    (failure,) = failures
    assert failure["level"] == "critical"
    assert "exc" not in failure, "no traceback below the debug level"
    message: str = failure["msg"]
    return message


@pytest.fixture
def taken_port() -> Iterator[int]:
    """A port that another process listens on."""
    with socket.socket() as other:
        other.bind(("127.0.0.1", 0))
        other.listen()
        yield other.getsockname()[1]


@_WORKERS
async def test_a_port_in_use_is_named_before_postgres_starts(
    tmp_path: Path, taken_port: int, workers: str
) -> None:
    data_dir = tmp_path / "data"
    code, lines = await daemon_process.failed_start(
        {}, "--port", str(taken_port), "--data-dir", str(data_dir), "--workers", workers
    )
    assert code == 1
    assert _the_one_failure(lines) == (
        f"port {taken_port} on 127.0.0.1 is already in use:"
        " stop the other process or choose another with --port/PORT"
    )
    assert not (data_dir / "pg").exists(), "it failed before starting PostgreSQL"


async def test_an_address_of_another_machine_is_a_bad_setting() -> None:
    code, lines = await daemon_process.failed_start(
        {}, "--host", "192.0.2.1", "--insecure", "true", "--port", "0", "--workers", "1"
    )
    assert code == 2
    assert _the_one_failure(lines) == (
        "cannot listen on 192.0.2.1: it is not an address of this machine:"
        " choose another with --host/INGEST_HOST"
    )


async def test_the_traceback_is_there_at_debug_level(tmp_path: Path, taken_port: int) -> None:
    code, lines = await daemon_process.failed_start(
        {"INGEST_LOG_LEVEL": "debug"},
        *("--port", str(taken_port), "--data-dir", str(tmp_path), "--workers", "1"),
    )
    assert code == 1
    (failure,) = [r for r in map(json.loads, lines) if r["level"] == "critical"]
    assert "already in use" in failure["msg"]
    assert "Traceback" in failure["exc"]


@_WORKERS
async def test_an_unreachable_database_is_named_with_the_reason(workers: str) -> None:
    code, lines = await daemon_process.failed_start(
        {"DATABASE_URL": "postgresql://nobody@127.0.0.1:1/x"}, "--port", "0", "--workers", workers
    )
    assert code == 1
    message = _the_one_failure(lines)
    assert "127.0.0.1:1" in message
    assert "Connection refused" in message
    assert "DATABASE_URL" in message


async def test_a_database_that_refuses_the_connection_is_named_with_its_words(
    postgres: Postgres,
) -> None:
    url = postgres.url("no_such_database")
    code, lines = await daemon_process.failed_start(
        {"DATABASE_URL": url}, "--port", "0", "--workers", "1"
    )
    assert code == 1
    message = _the_one_failure(lines)
    assert 'database "no_such_database" does not exist' in message
    assert "--database-url/DATABASE_URL" in message


@_WORKERS
async def test_a_data_dir_that_cannot_be_created(tmp_path: Path, workers: str) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    data_dir = blocker / "data"
    code, lines = await daemon_process.failed_start(
        {}, "--port", "0", "--data-dir", str(data_dir), "--workers", workers
    )
    assert code == 2
    message = _the_one_failure(lines)
    assert str(data_dir) in message
    assert "Not a directory" in message
    assert "--data-dir/INGEST_DATA_DIR" in message


@_WORKERS
async def test_an_embedded_server_that_does_not_start(tmp_path: Path, workers: str) -> None:
    """A data directory that claims to hold PostgreSQL's files but holds none of its data."""
    pgdata = tmp_path / "data" / "pg"
    pgdata.mkdir(parents=True)
    (pgdata / "PG_VERSION").write_text("18\n")
    (pgdata / "postgresql.conf").write_text("")
    code, lines = await daemon_process.failed_start(
        {}, "--port", "0", "--data-dir", str(tmp_path / "data"), "--workers", workers
    )
    assert code == 1
    message = _the_one_failure(lines)
    assert message.startswith("the embedded PostgreSQL did not start: "), message
    assert str(pgdata / "log") in message


async def test_a_bad_setting_is_one_log_line_too() -> None:
    code, lines = await daemon_process.failed_start({}, "--port", "nope")
    assert code == 2
    assert "--port" in _the_one_failure(lines)


@pytest.mark.parametrize(
    ("url", "says"),
    [
        pytest.param(
            "postgresql://ingest:secret@127.0.0.1:34x50/db",
            "the port must be a whole number from 1 to 65535",
            id="port-not-a-number",
        ),
        pytest.param(
            "postgresql://ingest:secret@127.0.0.1:99999/db",
            "the port must be a whole number from 1 to 65535",
            id="port-out-of-range",
        ),
        pytest.param(
            "postgresql://ingest:secret@/db?host=/run/postgresql&port=x",
            "the port must be a whole number from 1 to 65535",
            id="port-parameter-not-a-number",
        ),
        pytest.param(
            "postgresql://ingest:secret@127.0.0.1/db?sslmode=sometimes",
            "sslmode must be one of disable, allow, prefer, require, verify-ca or verify-full",
            id="unknown-sslmode",
        ),
    ],
)
async def test_a_malformed_database_url_is_a_bad_setting(url: str, says: str) -> None:
    code, lines = await daemon_process.failed_start(
        {"DATABASE_URL": url}, "--port", "0", "--workers", "1"
    )
    assert code == 2
    message = _the_one_failure(lines)
    assert message.startswith(f"DATABASE_URL: {says}"), message
    assert "secret" not in message
