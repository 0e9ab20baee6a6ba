"""What the app is told at start: where the daemon is, how often to ask, and what time it is.

The clock is injected so that the snapshot tests draw the same ages on every run.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime

from monitor.api.polling import Backoff


def _utc_now() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True, slots=True)
class Clock:
    monotonic: Callable[[], float] = time.monotonic
    """For ages of the monitor's own polls: immune to the wall clock being set."""
    now: Callable[[], datetime] = _utc_now
    """For ages of the daemon's timestamps (a device's last reading)."""


@dataclass(frozen=True, slots=True)
class Settings:
    url: str
    """Shown in the header; the client holds the real connection."""
    refresh_s: float = 2.0
    backoff_cap_s: float = 15.0
    """Longest wait between tries while the daemon fails: how late a recovery may be seen."""
    page_size: int = 100
    """Rows per request: a page is cheap to draw, and 10,000 rows are never loaded at once."""
    history_s: float = 300.0
    """How far back the readings-per-second sparkline reaches."""
    clock: Clock = field(default_factory=Clock)

    @property
    def backoff(self) -> Backoff:
        return Backoff(first_s=self.refresh_s, cap_s=max(self.refresh_s, self.backoff_cap_s))

    @property
    def history_points(self) -> int:
        return max(2, round(self.history_s / self.refresh_s))
