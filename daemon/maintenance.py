"""Partition upkeep: day partitions exist before their readings arrive.

Owns nothing but its timer. Creates the partitions for yesterday to the day after tomorrow
before reporting started (so the first readings never wait on DDL), then checks every
``interval_s``. Writers still create partitions on demand for late data; this task only
keeps that off the hot path. A database outage is logged and retried on the next round.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import UTC, date, datetime
from typing import Protocol

import trio

from daemon.errors import StoreUnavailable
from daemon.partitions import ahead

log = logging.getLogger(__name__)


class PartitionSink(Protocol):
    async def ensure_partitions(self, days: set[date]) -> int: ...


def _utc_now() -> datetime:
    return datetime.now(UTC)


async def run(
    sink: PartitionSink,
    *,
    interval_s: float = 3600.0,
    clock: Callable[[], datetime] = _utc_now,
    task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED,
) -> None:
    await sink.ensure_partitions(ahead(clock()))
    task_status.started()
    while True:
        await trio.sleep(interval_s)
        try:
            created = await sink.ensure_partitions(ahead(clock()))
        except StoreUnavailable as error:
            log.warning(
                "partition upkeep failed; next try in %.0f s",
                interval_s,
                extra={"error": str(error)},
            )
            continue
        if created:
            log.info("partitions created", extra={"count": created})
