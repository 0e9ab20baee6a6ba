"""Day partitions of the cold tables: which exist for which timestamps, and what they are called.

The cold tables are range-partitioned by UTC day on ``ts``; these rules are shared by the
maintenance task (ahead of time) and the writers (on demand, for late data).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Final

COLD_TABLES: Final = ("meter_readings", "vehicle_readings")


@dataclass(frozen=True, slots=True, order=True)
class Partition:
    """The partition of a cold table holding one UTC day; its name and bounds are SQL's job."""

    table: str
    day: date


def days_of(timestamps: Iterable[datetime]) -> set[date]:
    return {ts.astimezone(UTC).date() for ts in timestamps}


def ahead(now: datetime, days_before: int = 1, days_after: int = 2) -> set[date]:
    """Days whose partitions should exist before readings for them arrive."""
    today = now.astimezone(UTC).date()
    return {today + timedelta(days=n) for n in range(-days_before, days_after + 1)}


def partitions_for(days: Iterable[date]) -> list[Partition]:
    return sorted(Partition(table, day) for day in days for table in COLD_TABLES)
