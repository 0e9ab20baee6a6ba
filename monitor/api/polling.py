"""The poll loop every screen runs: one cycle at a time, the next one scheduled only after the
last one ended, slower and slower while the daemon fails, back to normal once it answers.

No Textual here: a screen runs ``poll_forever`` in one exclusive worker, so restarting the
worker (a key press, a new filter) cancels the cycle in flight and never stacks a second one.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import NoReturn

from monitor.api.errors import DaemonError

_MAX_DOUBLINGS = 20


@dataclass(frozen=True, slots=True)
class Backoff:
    """Capped exponential backoff: a daemon that is down is asked less and less often, but
    at least every ``cap_s``, so it is seen again soon after it is back."""

    first_s: float
    cap_s: float

    def delay_s(self, failures: int) -> float:
        doublings = min(max(failures - 1, 0), _MAX_DOUBLINGS)
        return min(self.cap_s, self.first_s * 2.0**doublings)


async def poll_forever(
    cycle: Callable[[], Awaitable[None]],
    failed: Callable[[DaemonError, float], None],
    *,
    every_s: float,
    backoff: Backoff,
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
) -> NoReturn:
    """Run ``cycle`` forever. A ``DaemonError`` is handed to ``failed`` with the delay before
    the next try; anything else is a bug in the monitor and propagates."""
    failures = 0
    while True:
        try:
            await cycle()
        except DaemonError as error:
            failures += 1
            delay_s = backoff.delay_s(failures)
            failed(error, delay_s)
        else:
            failures = 0
            delay_s = every_s
        await sleep(delay_s)
