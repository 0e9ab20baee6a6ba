"""Partition upkeep: day partitions exist before their readings arrive, and go once retention
no longer keeps them.

Owns nothing but its timer. Creates the partitions for yesterday to the day after tomorrow
before reporting started (so the first readings never wait on DDL), then, right away and every
``interval_s``, drops the day partitions and hourly rollups wholly older than retention (by a
margin, so that no partition that can still receive an accepted reading goes) and creates
those ahead again. Writers still create partitions on demand for late data; this task only
keeps that off the hot path. A database outage is logged and retried on the next round.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import UTC, date, datetime
from typing import Protocol

import trio

from daemon.errors import StoreUnavailable
from daemon.partitions import Partition, ahead, expired, horizon

log = logging.getLogger(__name__)


class PartitionSink(Protocol):
    async def ensure_partitions(self, days: set[date]) -> int: ...
    async def day_partitions(self) -> list[Partition]: ...
    async def drop_partitions(self, expired: list[Partition]) -> None: ...
    async def prune_rollups(self, before: datetime) -> int: ...


def _utc_now() -> datetime:
    return datetime.now(UTC)


async def _prune(sink: PartitionSink, now: datetime, retention_days: int) -> None:
    before = horizon(now, retention_days)
    if before is None:
        return
    gone = expired(await sink.day_partitions(), before)
    if gone:
        await sink.drop_partitions(gone)
        log.info(
            "dropped partitions older than retention",
            extra={"partitions": [p.name for p in gone], "before": before.isoformat()},
        )
    rollups = await sink.prune_rollups(before)
    if rollups:
        log.info(
            "deleted hourly rollups older than retention",
            extra={"rows": rollups, "before": before.isoformat()},
        )


async def run(
    sink: PartitionSink,
    *,
    retention_days: int,
    interval_s: float = 3600.0,
    clock: Callable[[], datetime] = _utc_now,
    task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED,
) -> None:
    await sink.ensure_partitions(ahead(clock()))
    task_status.started()
    while True:
        try:
            await _prune(sink, clock(), retention_days)
            created = await sink.ensure_partitions(ahead(clock()))
        except StoreUnavailable as error:
            log.warning(
                "partition upkeep failed; next try in %g s",
                interval_s,
                extra={"error": str(error)},
            )
        else:
            if created:
                log.info("partitions created", extra={"count": created})
        await trio.sleep(interval_s)
