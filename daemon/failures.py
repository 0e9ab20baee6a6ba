"""The pieces of the sentence a user reads when the daemon cannot start: the exception that
matters out of trio's nested groups, the operating system's or the server's own reason, and
the setting to change, named as the user can type it.
"""

from __future__ import annotations

import os
from urllib.parse import parse_qsl, urlsplit

from daemon.config import SETTINGS
from daemon.errors import StartupFailed, StoreUnavailable

_DEFAULT_PG_PORT = 5432


def leaves(error: BaseException) -> list[BaseException]:
    """The exceptions inside however many groups: a failure deep in a nursery arrives wrapped
    once per nursery it crossed, and only the innermost says what happened."""
    if isinstance(error, BaseExceptionGroup):
        return [leaf for inner in error.exceptions for leaf in leaves(inner)]
    return [error]


def setting(name: str) -> str:
    """``--port/PORT``: the flag and the variable of a setting, as ``--help`` shows them."""
    (found,) = (s for s in SETTINGS if s.name == name)
    return f"{found.flag}/{found.env}"


def reason(error: BaseException) -> str:
    """What the operating system or the server said, without Python's decoration: asyncio's
    refused connect carries "Connect call failed (...)" where the system says "Connection
    refused"."""
    if isinstance(error, OSError):
        if error.errno is not None and error.errno > 0:
            return os.strerror(error.errno)
        if error.strerror:
            return str(error.strerror)
    return str(error) or type(error).__name__


def _where(dsn: str) -> str:
    """host:port of a PostgreSQL URL, or the directory of its Unix socket; never the password."""
    parts = urlsplit(dsn)
    query = dict(parse_qsl(parts.query))
    host = query.get("host") or parts.hostname or "localhost"
    try:
        port = query.get("port") or parts.port or _DEFAULT_PG_PORT
    except ValueError:
        port = parts.netloc.rpartition(":")[2]
    if host.startswith("/"):
        return f"the Unix socket in {host} (port {port})"
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def refused_connecting(error: BaseException) -> bool:
    """Opening the store, an error that carries a SQLSTATE is the server's answer to the
    connection (no such database or role, a password or pg_hba.conf refused): the store lets
    those through untranslated. Only the attribute is looked at, so that no module but the
    store imports the driver."""
    return isinstance(error, StoreUnavailable) or getattr(error, "sqlstate", None) is not None


def unreachable(dsn: str, source: str | None, error: BaseException) -> StartupFailed:
    """PostgreSQL cannot be reached or refuses the connection at start. ``source`` is the
    setting the URL came from; None for the embedded server, whose URL the daemon made."""
    cause = error.__cause__ or error
    sentence = f"cannot connect to PostgreSQL at {_where(dsn)}: {reason(cause)}"
    if source is None:
        return StartupFailed(f"{sentence}: the embedded server stopped answering")
    return StartupFailed(
        f"{sentence}: check that it runs there and that {setting(source)} is right"
    )
