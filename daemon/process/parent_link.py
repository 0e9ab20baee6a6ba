"""A worker process's tie to the parent that started it.

Owns the read end of a pipe from the parent (the worker's standard input). The parent never
writes to it after the worker's configuration; it only keeps it open. End of file therefore
means the parent is gone (killed, crashed), and the worker stops as on SIGTERM rather than
serve on as an orphan that nobody will stop.
"""

from __future__ import annotations

import logging

import trio

log = logging.getLogger(__name__)


async def run(
    pipe: trio.abc.ReceiveStream,
    stop: trio.Event,
    *,
    task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED,
) -> None:
    task_status.started()
    async with pipe:
        while await pipe.receive_some():
            pass
    log.warning("the parent process is gone; stopping")
    stop.set()
