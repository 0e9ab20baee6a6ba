"""Pending rollup changes are folded into the rollups every few seconds (sql/005, sql/010).

Owns nothing but its timer. Flushes append what they changed to the pending tables, cheaply;
this moves those changes into the hourly and window rollups, where many readings of one
device and hour become one update. A fleet read folds what is pending before it reads, and
an analytics read adds in what is pending, so how often this runs changes only how much a
read finds pending, never an answer. A database outage is logged and retried on the next
round. Every worker runs one; one fold runs at a time (a fold that finds another running takes
nothing), so two never take the same change.
"""

from __future__ import annotations

import logging
from typing import Protocol

import trio

from daemon.errors import StoreUnavailable

log = logging.getLogger(__name__)


class Folder(Protocol):
    async def fold_rollups(self) -> int: ...


async def run(
    folder: Folder,
    *,
    interval_s: float,
    task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED,
) -> None:
    task_status.started()
    while True:
        await trio.sleep(interval_s)
        try:
            await folder.fold_rollups()
        except StoreUnavailable as error:
            log.warning(
                "rollup fold failed; next try in %g s", interval_s, extra={"error": str(error)}
            )
