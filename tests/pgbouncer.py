"""PgBouncer in transaction mode, as the Supabase pooler runs it, between a daemon and the
session's PostgreSQL: its own process, started from a generated ini, killed and started again
on the same port as a pooler's restart or failover would be."""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import trio

from tests.conftest import Postgres
from tests.daemon_process import _free_port

MISSING = "pgbouncer is not installed: apt-get install pgbouncer (Debian, Ubuntu)"

# Fewer server connections than a daemon's pool opens under load (a writer per shard, the fold,
# reads), so that its connections really take turns on them.
_SERVER_CONNECTIONS = 2


def binary() -> str | None:
    """Debian installs it in /usr/sbin, which is not on every user's PATH."""
    return shutil.which(
        "pgbouncer", path=os.pathsep.join((os.environ.get("PATH", ""), "/usr/sbin"))
    )


class PgBouncer:
    """One pgbouncer process at a time, always on the same port."""

    def __init__(self, executable: str, directory: Path, postgres: Postgres) -> None:
        self._executable = executable
        self._directory = directory
        self._log = directory / "pgbouncer.log"
        self.port = _free_port()
        self._process: trio.Process | None = None
        # Any database, by the name the client asks for, on the server's Unix socket; trust as
        # the test server does, but pgbouncer still wants the user in its auth file.
        (directory / "users.txt").write_text('"postgres" ""\n')
        (directory / "pgbouncer.ini").write_text(
            "[databases]\n"
            f"* = host={postgres.socket_dir} port={postgres.port} user=postgres\n"
            "[pgbouncer]\n"
            "listen_addr = 127.0.0.1\n"
            f"listen_port = {self.port}\n"
            "unix_socket_dir =\n"
            "auth_type = trust\n"
            f"auth_file = {directory / 'users.txt'}\n"
            "pool_mode = transaction\n"
            f"default_pool_size = {_SERVER_CONNECTIONS}\n"
            "max_client_conn = 200\n"
        )
        # As root, pgbouncer insists on running as another user (the one the test server runs
        # as), who must be able to read its ini.
        self._user = postgres.system_user
        directory.chmod(0o755)

    def url(self, database: str) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/{database}"

    async def start(self) -> None:
        """Start it and wait until it accepts connections."""
        command = [self._executable, str(self._directory / "pgbouncer.ini")]
        if self._user is not None:
            command += ["-u", self._user]
        with self._log.open("ab") as log:
            self._process = await trio.lowlevel.open_process(command, stderr=log, stdout=log)
        while True:
            assert self._process.returncode is None, self._log.read_text()
            try:
                stream = await trio.open_tcp_stream("127.0.0.1", self.port)
            except OSError:
                await trio.sleep(0.05)
            else:
                await stream.aclose()
                return

    async def kill(self) -> None:
        """As a crash: every client and server connection is cut at once."""
        assert self._process is not None
        self._process.kill()
        await self._process.wait()

    @property
    def log(self) -> str:
        return self._log.read_text()


@asynccontextmanager
async def running(executable: str, postgres: Postgres) -> AsyncIterator[PgBouncer]:
    with tempfile.TemporaryDirectory(prefix="ingest-test-pgbouncer-") as directory:
        bouncer = PgBouncer(executable, Path(directory), postgres)
        await bouncer.start()
        try:
            yield bouncer
        finally:
            with trio.CancelScope(shield=True):
                await bouncer.kill()
