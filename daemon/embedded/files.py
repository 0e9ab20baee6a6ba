"""The embedded server's own configuration files, which make it safe however it is started.

The wheel passes "no TCP" and the socket's directory on the command line only, and initdb's
``pg_hba.conf`` trusts every local TCP connection: started by hand (``pg_ctl -D <dir>/pg
start``) the server then listened on 127.0.0.1:5432, and anyone on the machine could connect
as its superuser. When the data directory's path was too long for a socket's name, the wheel
moved the socket to a world-writable directory in the temporary folder, with the same effect.
So the settings live in the server's own files, rewritten before every start (data
directories made by older versions are fixed by the next start):

- ``postgresql.conf`` includes ``ingestd.conf``: ``listen_addresses = ''`` (no TCP at all),
  one socket directory that only the server's user may enter, ``unix_socket_permissions =
  0700``;
- ``pg_hba.conf`` has no ``host`` line: a TCP connection is refused even if someone turns
  TCP on.

Trust over that socket is then trust in the server's own user (and root), as with a file.
"""

from __future__ import annotations

import os
import re
import tempfile
from pathlib import Path

from daemon.embedded.postmaster import socket_name
from daemon.errors import StartupFailed

OWN_CONF = "ingestd.conf"
_INCLUDE = f"include = '{OWN_CONF}'"
# sockaddr_un.sun_path holds 108 bytes, the last of them the terminating NUL.
_SOCKET_PATH_MAX = 107
# A directory in a configuration string needs no quoting or escaping if it holds none of these,
# and is one entry of the comma-separated list.
_PLAIN_PATH = re.compile(r"[^,'\"\\\s]+")
_HEADER = "# Written by ingestd before every start of the server: edits here are lost.\n"


def socket_dir(pgdata: Path) -> Path:
    """Where the socket goes: beside the data (``pgdata`` is 0700) when its name fits, else a
    new private directory in the temporary folder (created 0700, a random name no one else
    can have made first), owned by the server's user."""
    if _fits(pgdata):
        return pgdata
    if not _fits(Path(tempfile.gettempdir()) / "ingestd-pg-xxxxxxxx"):
        raise StartupFailed(
            f"no directory for PostgreSQL's socket: {pgdata} and the temporary folder"
            f" {tempfile.gettempdir()} both make its path longer than {_SOCKET_PATH_MAX} bytes:"
            " choose a shorter --data-dir or TMPDIR"
        )
    made = Path(tempfile.mkdtemp(prefix="ingestd-pg-"))
    owner = pgdata.stat()
    if os.geteuid() == 0:
        os.chown(made, owner.st_uid, owner.st_gid)
    return made


def _fits(directory: Path) -> bool:
    return (
        _PLAIN_PATH.fullmatch(str(directory)) is not None
        and len(os.fsencode(directory / socket_name(65535))) <= _SOCKET_PATH_MAX
    )


def write(pgdata: Path, socket_directory: Path) -> None:
    """Make the server listen only on a private socket in ``socket_directory``, and accept
    connections only there; the files keep the data directory's owner."""
    _replace(
        pgdata / OWN_CONF,
        _HEADER + "listen_addresses = ''\n"
        f"unix_socket_directories = '{socket_directory}'\n"
        "unix_socket_permissions = 0700\n",
    )
    _replace(pgdata / "pg_hba.conf", _HEADER + "local all all trust\n")
    main = (pgdata / "postgresql.conf").read_text()
    if _INCLUDE not in main.splitlines():
        _replace(
            pgdata / "postgresql.conf",
            f"{main.rstrip()}\n\n# ingestd's settings, after the others so that they win.\n"
            f"{_INCLUDE}\n",
        )


def _replace(path: Path, text: str) -> None:
    """Atomically, readable only by the server's user (the owner of the data directory)."""
    owner = path.parent.stat()
    new = path.with_name(f"{path.name}.new")
    new.write_text(text)
    new.chmod(0o600)
    if os.geteuid() == 0:
        os.chown(new, owner.st_uid, owner.st_gid)
    new.replace(path)
