"""The fleet's 24-hour window moves on at every hour (``roll_fleet_window``, sql/005).

Owns nothing but its timer. Rolls at start (the daemon may have been stopped for hours), then
just after each hour begins. Until a roll lands, the fleet views state the window they
really summed, so a late roll makes them older, never wrong. A database outage is logged and
retried shortly. Every worker runs one; the database makes all but the first a no-op.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Protocol

import trio

from daemon.errors import StoreUnavailable
from daemon.reads.window import hour_floor, window_start

log = logging.getLogger(__name__)

_HOUR = timedelta(hours=1)


class Roller(Protocol):
    async def roll_fleet_window(self, start: datetime) -> bool: ...


def _utc_now() -> datetime:
    return datetime.now(UTC)


async def run(
    roller: Roller,
    *,
    clock: Callable[[], datetime] = _utc_now,
    retry_s: float = 5.0,
    task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED,
) -> None:
    await _roll(roller, clock())
    task_status.started()
    while True:
        now = clock()
        await trio.sleep((hour_floor(now) + _HOUR - now).total_seconds())
        while True:
            try:
                await _roll(roller, clock())
                break
            except StoreUnavailable as error:
                log.warning(
                    "fleet window roll failed; retrying",
                    extra={"error": str(error), "retry_in_s": retry_s},
                )
                await trio.sleep(retry_s)


async def _roll(roller: Roller, now: datetime) -> None:
    start = window_start(now)
    if await roller.roll_fleet_window(start):
        log.info("fleet window moved on", extra={"window_start": start.isoformat()})
