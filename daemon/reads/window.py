"""The fleet's 24-hour window: hour-aligned, so that whole hours of the rollups make it up."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Final

WINDOW: Final = timedelta(hours=24)


def hour_floor(moment: datetime) -> datetime:
    return moment.astimezone(UTC).replace(minute=0, second=0, microsecond=0)


def window_start(now: datetime) -> datetime:
    """The fleet window that holds ``now``: this hour and the 23 before it."""
    return hour_floor(now) - WINDOW + timedelta(hours=1)


@dataclass(frozen=True, slots=True)
class FleetWindow:
    """The hour-aligned window of the lists' 24-hour figures: ``[start, start + 24 h)``."""

    start: datetime

    @property
    def end(self) -> datetime:
        return self.start + WINDOW
