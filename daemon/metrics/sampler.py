"""The metrics' gauges: queue depths, the acceptance rate and this process's figures.

Owns nothing but its timer. Counters and histograms are updated where things happen; gauges
of a state are read from it here about once a second, so that the hot path never pays for
them. Runs until cancelled.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Protocol

import trio


class Gauges(Protocol):
    def sample(self, queue_depths: Sequence[int], accepted: int, now: float) -> None: ...


async def run(
    gauges: Gauges,
    queue_depths: Callable[[], Sequence[int]],
    accepted: Callable[[], int],
    *,
    interval_s: float = 1.0,
    task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED,
) -> None:
    gauges.sample(queue_depths(), accepted(), trio.current_time())
    task_status.started()
    while True:
        await trio.sleep(interval_s)
        gauges.sample(queue_depths(), accepted(), trio.current_time())
