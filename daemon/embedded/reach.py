"""The embedded server's user must reach its programs and its files; the daemon never opens a
folder outside its data directory for it, it says which folder to open.

When the daemon runs as root, the wheel runs PostgreSQL as a system user of its own
(``pgserver``), who must be able to enter every folder above the binaries and above the data.
The wheel's own start-up saw to it by adding read and search permission for group and others
to each of those folders, up to ``/``: a private folder (0700, with a tokens file in it) above
the data directory became 0755, and anyone on the machine could list it. The daemon does not
use that start-up. It asks the kernel, as the server's user (``test -x`` run as that user, so
that groups and ACLs count as they will for the server), which folder that user cannot enter,
and names it in a sentence; who owns the folder chooses the fix (an ACL, a mode, another
place). The one mode it sets is that of the data directory it holds, whose files are its own:
search for others, not listing (0701), when the server's user could not enter it otherwise.

The server's programs run as that user with that user's own groups (``as_user``). The wheel
set the user only, so they kept root's group: folders that root's group may enter were open to
them, and a folder of root's with search for others only (``chmod o+x``) stayed closed, its
group's bits denying them first; the advice in a sentence would then depend on root's groups.
"""

from __future__ import annotations

import logging
import os
import pwd
import stat
import subprocess
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from daemon.errors import StartupFailed
from daemon.failures import setting

log = logging.getLogger(__name__)

# The index of the first path that the user may not enter (a folder) or run (a program).
_FIRST_DENIED = 'i=0; for p; do [ -x "$p" ] || { echo "$i"; exit 3; }; i=$((i + 1)); done'
_DENIED = 3
_CHECK_TIMEOUT_S = 30
_PROGRAMS = ("initdb", "pg_ctl", "postgres")


def ensure(user: str, binaries: Path, data_dir: Path) -> None:
    """Let ``user`` enter ``data_dir`` (which the daemon holds); else, or if ``user`` may not
    reach the programs or a folder above the data directory, say which in one sentence."""
    binaries, data_dir = binaries.resolve(), data_dir.resolve()
    programs = [*_down_to(binaries), *(binaries / name for name in _PROGRAMS)]
    denied = first_denied(user, [*programs, *_down_to(data_dir)])
    if denied == data_dir:
        mode = stat.S_IMODE(data_dir.stat().st_mode) | stat.S_IXOTH
        data_dir.chmod(mode)
        log.info(
            "the data directory may be entered by the server's user, not listed",
            extra={"data_dir": str(data_dir), "mode": f"{mode:04o}"},
        )
        denied = first_denied(user, [data_dir])
    if denied is None:
        return
    if denied in programs:  # checked first: a folder above both is named as theirs
        raise _unreachable_program(user, denied)
    raise StartupFailed(
        f"the embedded PostgreSQL runs as {user}, who may not enter {denied}:"
        f" let {user} search it (setfacl -m u:{user}:x, or chmod o+x),"
        f" or choose a data directory outside it with {setting('data_dir')}",
        exit_code=2,
    )


def first_denied(user: str, paths: Sequence[Path]) -> Path | None:
    """The first of ``paths`` that ``user`` may not enter (a folder) or run (a program), in
    order, so that a folder is named rather than what is below it; None if none."""
    done = subprocess.run(  # noqa: S603 - the system's shell, this module's script
        ["/bin/sh", "-c", _FIRST_DENIED, "sh", *map(os.fspath, paths)],
        **as_user(user),
        cwd="/",
        stdin=subprocess.DEVNULL,
        capture_output=True,
        check=False,
        timeout=_CHECK_TIMEOUT_S,
    )
    if done.returncode == 0:
        return None
    if done.returncode == _DENIED:
        return paths[int(done.stdout)]
    raise subprocess.CalledProcessError(done.returncode, done.args, done.stdout, done.stderr)


def as_user(user: str | None) -> dict[str, Any]:
    """``subprocess`` arguments that run a program as ``user`` with that user's own groups
    (module doc); none for None, the daemon's own user."""
    if user is None:
        return {}
    account = pwd.getpwnam(user)
    return {
        "user": account.pw_uid,
        "group": account.pw_gid,
        "extra_groups": os.getgrouplist(user, account.pw_gid),
    }


def _down_to(path: Path) -> list[Path]:
    """Every folder from ``/`` down to ``path``, ``path`` included."""
    return [*reversed(path.parents), path]


def _unreachable_program(user: str, denied: Path) -> StartupFailed:
    """Exit code 1: where ingestd is installed is no setting of its own."""
    if denied.is_dir():
        fix = f"let {user} search it (setfacl -m u:{user}:x, or chmod o+x)"
        return StartupFailed(
            f"the embedded PostgreSQL runs as {user}, who may not enter {denied}, a folder"
            f" above its programs: {fix}, or install ingestd where {user} can reach it"
        )
    return StartupFailed(
        f"the embedded PostgreSQL runs as {user}, who may not run {denied}:"
        f" let {user} run it (chmod o+rx), or install ingestd again"
    )
