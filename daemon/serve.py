"""Runs the HTTP front on Hypercorn inside this trio run (and so inside the loop bridge that
the store opened), and drains it on the stop event: new connections are refused, requests in
flight get ``grace_s`` to finish.

A connection idle for ``keep_alive_s`` (before its first request, between two, or while its
headers trickle in) is closed, and so is every idle one when the drain begins; this holds only
because the app lets Hypercorn finish its bookkeeping after each response (see
``daemon.http_app``). The front gets only as much grace as a request in flight can need.
"""

from __future__ import annotations

import logging
import socket
from typing import Any

import hypercorn.config
import hypercorn.trio
import trio

# Room for a burst of connects (every device on the minute boundary): Hypercorn's default of
# 100 overflows at a few hundred simultaneous connects and clients stall for a second. The
# kernel caps it at net.core.somaxconn.
_BACKLOG = 4096


def shared_port_socket(host: str, port: int) -> socket.socket:
    """A socket bound with SO_REUSEPORT, so that several worker processes share one port and the
    kernel spreads connections over those that listen."""
    sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    sock.bind((host, port))
    return sock


def address(host: str, port: int) -> str:
    """``host:port``, with an IPv6 host in brackets."""
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def hypercorn_config(bind: str, grace_s: float, keep_alive_s: float) -> hypercorn.config.Config:
    config = hypercorn.config.Config()
    config.bind = [bind]
    config.graceful_timeout = grace_s
    config.keep_alive_timeout = keep_alive_s
    config.backlog = _BACKLOG
    config.accesslog = None
    config.errorlog = logging.getLogger("hypercorn.error")
    return config


async def run(
    app: Any,
    *,
    host: str,
    port: int,
    grace_s: float,
    keep_alive_s: float,
    stop: trio.Event,
    reuse_port: bool = False,
    task_status: trio.TaskStatus[list[str]] = trio.TASK_STATUS_IGNORED,
) -> None:
    """Reports started with the bound addresses (``http://127.0.0.1:3000``), once listening."""
    bind = f"fd://{shared_port_socket(host, port).detach()}" if reuse_port else address(host, port)
    await hypercorn.trio.serve(
        app,
        hypercorn_config(bind, grace_s, keep_alive_s),
        shutdown_trigger=stop.wait,
        task_status=task_status,
    )
