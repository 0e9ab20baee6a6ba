"""The folder of the workers' metric files (prometheus-client's multiprocess mode).

The parent makes one at each start and holds a lock inside it for as long as it lives; a parent
killed with ``kill -9`` cannot remove its folder, so each start clears its predecessors' folders
that no live daemon holds. A worker that died is forgotten here, so that its gauges (queue
depths, rates, its process figures) leave ``/metrics`` with it; its counters stay in the sums.
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Final

from prometheus_client import multiprocess

log = logging.getLogger(__name__)

_PREFIX: Final = "ingestd-"
_MAKING: Final = ".making-ingestd-"
_LOCK: Final = ".lock"


@contextlib.contextmanager
def metrics_dir() -> Iterator[str]:
    """A new folder for this daemon's metric files, locked while it is in use, then removed."""
    _clear_predecessors(Path(tempfile.gettempdir()))
    # Made under another name and renamed once locked, so that no folder of the prefix is
    # ever unlocked while its daemon lives.
    making = Path(tempfile.mkdtemp(prefix=_MAKING))
    fd = os.open(making / _LOCK, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
    path = making.with_name(_PREFIX + making.name.removeprefix(_MAKING))
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        making.rename(path)
        yield str(path)
    finally:
        shutil.rmtree(path, ignore_errors=True)
        shutil.rmtree(making, ignore_errors=True)
        os.close(fd)


def forget(directory: str, pid: int) -> None:
    """Drop the live gauges of the worker process ``pid``, which has died."""
    multiprocess.mark_process_dead(pid, directory)  # type: ignore[no-untyped-call]


def _clear_predecessors(base: Path) -> None:
    cleared = [str(folder) for folder in base.glob(f"{_PREFIX}*") if _abandoned(folder)]
    for folder in cleared:
        shutil.rmtree(folder, ignore_errors=True)
    if cleared:
        log.info(
            "removed the metric folders of daemons that did not stop cleanly",
            extra={"folders": cleared},
        )


def _abandoned(folder: Path) -> bool:
    """A folder of this user's that no live daemon holds: its lock is free."""
    try:
        if folder.is_symlink() or not folder.is_dir() or folder.lstat().st_uid != os.geteuid():
            return False
        fd = os.open(folder / _LOCK, os.O_RDWR | os.O_NOFOLLOW | os.O_CLOEXEC)
    except OSError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    finally:
        os.close(fd)
    return True
