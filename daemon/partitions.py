"""Day partitions of the cold tables: which exist for which timestamps, what they are called,
and which have aged out.

The cold tables are range-partitioned by UTC day on ``ts``; these rules are shared by the
maintenance task (ahead of time, and dropping what retention no longer keeps) and the writers
(on demand, for late data).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Final

COLD_TABLES: Final = ("meter_readings", "vehicle_readings")
DROP_MARGIN: Final = timedelta(hours=1)
"""How far past retention a partition's last moment must be before it is dropped: a reading
checked against the clock just before the drop may still be on its way to its commit (the ack
timeout is seconds), and processes' clocks differ a little."""
_NAME: Final = re.compile(r"(?P<table>[a-z_]+)_(?P<day>[0-9]{8})")


@dataclass(frozen=True, slots=True, order=True)
class Partition:
    """The partition of a cold table holding one UTC day; its name and bounds are SQL's job."""

    table: str
    day: date

    @property
    def name(self) -> str:
        """As ``ensure_day_partition`` (sql/003) names it."""
        return f"{self.table}_{self.day:%Y%m%d}"

    @property
    def end(self) -> datetime:
        """The first moment after the partition's day: every row it holds is older."""
        return datetime.combine(self.day + timedelta(days=1), time(), UTC)

    @classmethod
    def named(cls, name: str) -> Partition | None:
        """The partition a table name stands for, or None for any other table."""
        match = _NAME.fullmatch(name)
        if match is None or match["table"] not in COLD_TABLES:
            return None
        try:
            return cls(match["table"], datetime.strptime(match["day"], "%Y%m%d").date())
        except ValueError:
            return None


def days_of(timestamps: Iterable[datetime]) -> set[date]:
    return {ts.astimezone(UTC).date() for ts in timestamps}


def ahead(now: datetime, days_before: int = 1, days_after: int = 2) -> set[date]:
    """Days whose partitions should exist before readings for them arrive."""
    today = now.astimezone(UTC).date()
    return {today + timedelta(days=n) for n in range(-days_before, days_after + 1)}


def partitions_for(days: Iterable[date]) -> list[Partition]:
    return sorted(Partition(table, day) for day in days for table in COLD_TABLES)


def horizon(now: datetime, retention_days: int) -> datetime | None:
    """The UTC midnight before which nothing is kept: whole days older than retention by at
    least ``DROP_MARGIN``. None when retention is 0, which keeps everything."""
    if retention_days == 0:
        return None
    cutoff = now.astimezone(UTC) - timedelta(days=retention_days) - DROP_MARGIN
    return datetime.combine(cutoff.date(), time(), UTC)


def expired(partitions: Iterable[Partition], before: datetime) -> list[Partition]:
    """The partitions wholly before ``before``, oldest first."""
    return sorted(p for p in partitions if p.end <= before)
