"""When a supervised process that died is started again, and when the supervisor gives up.

One policy for everything the daemon supervises (worker processes, the embedded PostgreSQL):
a death is answered by a start after a short backoff that doubles with each recent death, and
more than ``limit`` deaths within ``window_s`` mean a fault that starting again will not fix
(a bad disk, a crash on every start), so the supervisor stops and says why instead of looping.
Synchronous and free of I/O: the supervisor gives it the time.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass
from typing import Final


@dataclass(frozen=True, slots=True)
class Policy:
    limit: int = 5
    """Deaths answered with a start within ``window_s``; one more and the supervisor gives up."""
    window_s: float = 60.0
    first_backoff_s: float = 0.1
    max_backoff_s: float = 5.0


DEFAULT: Final = Policy()


class Restarts:
    """The deaths of one supervised kind of process, against the policy."""

    def __init__(self, policy: Policy = DEFAULT) -> None:
        self.policy = policy
        self._deaths: deque[float] = deque()

    def after_death(self, now: float) -> float | None:
        """Count a death at ``now``: how long to wait before starting again, or None when the
        deaths within the window are past the limit."""
        while self._deaths and now - self._deaths[0] > self.policy.window_s:
            self._deaths.popleft()
        self._deaths.append(now)
        recent = len(self._deaths)
        if recent > self.policy.limit:
            return None
        return min(self.policy.first_backoff_s * 2.0 ** (recent - 1), self.policy.max_backoff_s)

    def summary(self) -> str:
        """The give-up reason, in words."""
        return f"{len(self._deaths)} deaths within {self.policy.window_s:g} s"
