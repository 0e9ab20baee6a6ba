"""What ``postmaster.pid`` says about the server running on a data directory, and whether that
server is private.

Read here rather than with the wheel's reader, which fails on a file that the server is still
writing (a server starting writes its lines one after another), and cannot tell who may reach
the socket.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

# PostgreSQL's lock file, one value a line: pid, data directory, start time, port, socket
# directory, TCP address, shared memory key, status.
_LINES = 8


@dataclass(frozen=True)
class Postmaster:
    pid: int
    port: int
    socket_dir: Path | None
    tcp_address: str
    """The first address it listens on over TCP; empty for none."""
    status: str
    """``ready``, or ``starting`` and ``stopping`` (also while the file is still written)."""

    def is_private(self, owner: int) -> bool:
        """No TCP address, and a socket that only ``owner`` (and root) may reach: its directory
        and the socket itself are ``owner``'s, with no permission for anyone else."""
        if self.tcp_address or self.socket_dir is None:
            return False
        return all(
            _owned_alone(path, owner)
            for path in (self.socket_dir, self.socket_dir / socket_name(self.port))
        )


def socket_name(port: int) -> str:
    return f".s.PGSQL.{port}"


def read(pgdata: Path) -> Postmaster | None:
    """The server that runs on ``pgdata``; None if none does (no file, or its pid is gone)."""
    try:
        lines = (pgdata / "postmaster.pid").read_text().splitlines()
        pid = int(lines[0])
    except (FileNotFoundError, IndexError, ValueError):
        return None
    if not alive(pid):
        return None
    lines += [""] * (_LINES - len(lines))
    return Postmaster(
        pid=pid,
        port=int(lines[3] or 0),
        socket_dir=Path(lines[4]) if lines[4] else None,
        tcp_address=lines[5].strip(),
        status=lines[7].strip() or "starting",
    )


def alive(pid: int) -> bool:
    """Whether ``pid`` exists, a zombie included, as PostgreSQL itself judges the pid in a
    ``postmaster.pid``: it starts on those files only once that pid is gone."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # alive, and someone else's
        return True
    return True


def dead(pid: int) -> bool:
    """Whether ``pid`` has ended, a zombie included: a killed postmaster, detached by
    ``pg_ctl``, waits for a parent (init, or a container's first process) to reap it."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except FileNotFoundError:
        return True
    except (OSError, IndexError):  # no /proc to read
        return not alive(pid)
    return state == "Z"


def _owned_alone(path: Path, owner: int) -> bool:
    try:
        status = path.lstat()
    except FileNotFoundError:
        return False
    return status.st_uid == owner and status.st_mode & 0o077 == 0


def leftovers(pgdata: Path) -> list[int]:
    """Postmasters still running on ``pgdata`` though its files are gone: deleted while the
    server ran, which it survives, sometimes for good. Found by their command line
    (``postgres -D <pgdata>``), as the wheel's start-up found them before initdb."""
    wanted = os.fsencode(pgdata)
    found = []
    try:
        processes = [entry for entry in Path("/proc").iterdir() if entry.name.isdigit()]
    except FileNotFoundError:  # no /proc: nothing to look at
        return []
    for process in processes:
        try:
            args = (process / "cmdline").read_bytes().split(b"\0")
        except OSError:  # gone meanwhile, or not ours to read
            continue
        if os.path.basename(args[0]) == b"postgres" and wanted in args:
            found.append(int(process.name))
    return found
