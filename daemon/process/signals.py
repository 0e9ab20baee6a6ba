"""Turns SIGTERM or SIGINT into the daemon's one stop event (Hypercorn installs no handlers
when started from code). A second signal after the first finds trio's default handling, so a
second Ctrl-C still interrupts a shutdown that hangs."""

from __future__ import annotations

import logging
import signal

import trio

log = logging.getLogger(__name__)


async def run(
    stop: trio.Event, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED
) -> None:
    with trio.open_signal_receiver(signal.SIGTERM, signal.SIGINT) as received:
        task_status.started()
        async for signum in received:
            log.info("stopping", extra={"signal": signal.Signals(signum).name})
            stop.set()
            return
