"""A data directory belongs to one daemon at a time, the one that holds its lock.

The holder owns the embedded PostgreSQL in it: it starts the server, or adopts the one that a
killed daemon left running, and stops it when it stops. A lock (``flock`` on ``ingestd.lock``)
rather than a list of pids: the kernel releases it when its holder dies however it dies, so a
daemon killed with ``kill -9`` leaves no owner behind, and a live one cannot be mistaken for a
dead one whose pid was reused.

The directory must be the daemon's own and no one else may write in it: another local user
could otherwise prepare it, with ``ingestd.lock`` a link to a file of root's that a root daemon
would truncate and write its pid into, and then have the daemon run its database there. So the
directory is checked first (it is made 0700 when the daemon makes it), and the lock file is
opened without following a link and checked before anything is written: a regular file of the
daemon's own user, with no other name anywhere (one link).
"""

from __future__ import annotations

import errno
import fcntl
import os
import pwd
import stat
from pathlib import Path

from daemon.errors import StartupFailed
from daemon.failures import reason, setting

_LOCK_FILE = "ingestd.lock"


class DataDirLock:
    """Held from ``claim`` until ``release`` or the end of the process."""

    def __init__(self, path: Path, fd: int) -> None:
        self.path = path
        self._fd = fd

    def release(self) -> None:
        os.close(self._fd)


def claim(path: Path) -> DataDirLock:
    """Create the directory if need be and take its lock, or say in one sentence why not."""
    try:
        path.mkdir(mode=0o700, parents=True, exist_ok=True)
    except OSError as error:
        raise _unusable(path, "cannot be created", error) from error
    try:
        directory = os.open(path, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    except OSError as error:
        raise _unusable(path, "cannot be opened", error) from error
    try:
        _check_directory(path, os.fstat(directory))
        fd = _open_lock(path, directory)
    finally:
        os.close(directory)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        holder = os.read(fd, 32).decode(errors="replace").strip() or "unknown"
        os.close(fd)
        raise StartupFailed(
            f"the data directory {path} is in use by another ingestd (pid {holder}):"
            f" stop it, or choose another directory with {setting('data_dir')}"
        ) from None
    os.ftruncate(fd, 0)
    os.write(fd, f"{os.getpid()}\n".encode())
    return DataDirLock(path.resolve(), fd)


def _check_directory(path: Path, status: os.stat_result) -> None:
    me = os.geteuid()
    if status.st_uid != me:
        raise StartupFailed(
            f"the data directory {path} belongs to {_name(status.st_uid)}, not to {_name(me)},"
            f" who runs ingestd: give it to {_name(me)} (chown), or choose another with"
            f" {setting('data_dir')}",
            exit_code=2,
        )
    if status.st_mode & (stat.S_IWGRP | stat.S_IWOTH):
        raise StartupFailed(
            f"the data directory {path} is writable by others"
            f" (mode {stat.S_IMODE(status.st_mode):04o}): make it private (chmod 700),"
            f" or choose another with {setting('data_dir')}",
            exit_code=2,
        )


def _open_lock(path: Path, directory: int) -> int:
    """The lock file, opened in the directory already checked, not truncated: a daemon that
    holds the lock may be reading it, and a file that fails the checks is left as it was."""
    flags = os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC
    try:
        fd = os.open(_LOCK_FILE, flags, 0o644, dir_fd=directory)
    except OSError as error:
        if error.errno == errno.ELOOP:
            raise _bad_lock(path, "is a symbolic link") from None
        raise _unusable(path, "cannot be written", error) from error
    status = os.fstat(fd)
    wrong = None
    if not stat.S_ISREG(status.st_mode):
        wrong = "is not a regular file"
    elif status.st_uid != os.geteuid():
        wrong = f"belongs to {_name(status.st_uid)}, not to {_name(os.geteuid())}"
    elif status.st_nlink != 1:
        wrong = f"has {status.st_nlink} hard links, not one"
    if wrong is not None:
        os.close(fd)
        raise _bad_lock(path, wrong)
    return fd


def _name(uid: int) -> str:
    try:
        return pwd.getpwuid(uid).pw_name
    except KeyError:
        return f"uid {uid}"


def _bad_lock(path: Path, wrong: str) -> StartupFailed:
    return StartupFailed(
        f"the data directory's lock file {path / _LOCK_FILE} {wrong}:"
        f" remove it, or choose another data directory with {setting('data_dir')}",
        exit_code=2,
    )


def _unusable(path: Path, what: str, error: OSError) -> StartupFailed:
    return StartupFailed(
        f"the data directory {path} {what}: {reason(error)}:"
        f" choose another with {setting('data_dir')}",
        exit_code=2,
    )
