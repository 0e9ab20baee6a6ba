"""Runs the HTTP front on Hypercorn inside this trio run (and so inside the loop bridge that
the store opened), and drains it on the stop event: new connections are refused, requests in
flight get ``grace_s`` to finish.

Hypercorn (0.18, with Quart-Trio) does not close idle keep-alive connections, not even when
shutting down, so every drain lasts the whole grace while any client keeps one open. The
supervisor therefore gives the front only as much grace as a request in flight can need.
"""

from __future__ import annotations

import logging
from typing import Any

import hypercorn.config
import hypercorn.trio
import trio


def hypercorn_config(host: str, port: int, grace_s: float) -> hypercorn.config.Config:
    config = hypercorn.config.Config()
    config.bind = [f"[{host}]:{port}" if ":" in host else f"{host}:{port}"]
    config.graceful_timeout = grace_s
    config.accesslog = None
    config.errorlog = logging.getLogger("hypercorn.error")
    return config


async def run(
    app: Any,
    *,
    host: str,
    port: int,
    grace_s: float,
    stop: trio.Event,
    task_status: trio.TaskStatus[list[str]] = trio.TASK_STATUS_IGNORED,
) -> None:
    """Reports started with the bound addresses (``http://127.0.0.1:3000``), once listening."""
    await hypercorn.trio.serve(
        app,
        hypercorn_config(host, port, grace_s),
        shutdown_trigger=stop.wait,
        task_status=task_status,
    )
