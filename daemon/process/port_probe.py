"""Is the HTTP port free? Asked first, so that a taken port is told in a second, before the
embedded PostgreSQL starts and the migrations run, rather than after them.

The probe binds without SO_REUSEPORT: the workers' sockets use it, and with it a second
daemon's bind would succeed beside the first one's and the kernel would share the
connections between them. SO_REUSEADDR keeps a port that only lingers in TIME_WAIT (a daemon
just restarted) usable.
"""

from __future__ import annotations

import errno
import socket

from daemon.errors import StartupFailed
from daemon.failures import reason, setting


def ensure_free(host: str, port: int) -> None:
    """Raise ``StartupFailed`` if nothing may listen on ``host``:``port`` now (with port 0, any
    free one: then only the host is in question)."""
    with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError as error:
            raise _refusal(host, port, error) from error


def _refusal(host: str, port: int, error: OSError) -> StartupFailed:
    if error.errno == errno.EADDRINUSE:
        return StartupFailed(
            f"port {port} on {host} is already in use:"
            f" stop the other process or choose another with {setting('port')}"
        )
    if isinstance(error, socket.gaierror):
        return StartupFailed(
            f"cannot listen on {host}: {reason(error)}: choose another with {setting('host')}",
            exit_code=2,
        )
    if error.errno == errno.EADDRNOTAVAIL:
        return StartupFailed(
            f"cannot listen on {host}: it is not an address of this machine:"
            f" choose another with {setting('host')}",
            exit_code=2,
        )
    return StartupFailed(
        f"cannot listen on port {port} on {host}: {reason(error)}:"
        f" choose another with {setting('host')} or {setting('port')}",
        exit_code=2,
    )
