"""A data directory belongs to one daemon at a time, the one that holds its lock.

The holder owns the embedded PostgreSQL in it: it starts the server, or adopts the one that a
killed daemon left running, and stops it when it stops. A lock (``flock`` on ``ingestd.lock``)
rather than a list of pids: the kernel releases it when its holder dies however it dies, so a
daemon killed with ``kill -9`` leaves no owner behind, and a live one cannot be mistaken for a
dead one whose pid was reused.
"""

from __future__ import annotations

import fcntl
import os
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
        path.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise _unusable(path, "cannot be created", error) from error
    try:
        fd = os.open(path / _LOCK_FILE, os.O_RDWR | os.O_CREAT, 0o644)
    except OSError as error:
        raise _unusable(path, "cannot be written", error) from error
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


def _unusable(path: Path, what: str, error: OSError) -> StartupFailed:
    return StartupFailed(
        f"the data directory {path} {what}: {reason(error)}:"
        f" choose another with {setting('data_dir')}",
        exit_code=2,
    )
