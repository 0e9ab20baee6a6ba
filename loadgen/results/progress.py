"""Live progress on stderr: a line every two seconds, never one per item, so that a phase of
tens of seconds (linking or verifying 10,000 sites, sending a day of history) shows it moves
without drowning the terminal; a phase that ends sooner prints none, and sending says nothing
while nothing happens (a realtime run between its bursts)."""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import TextIO

import trio

from loadgen.results import report
from loadgen.results.stats import Stats
from loadgen.results.tally import Tally

EVERY_S = 2.0


async def every(
    line: Callable[[], str | None], *, interval_s: float = EVERY_S, out: TextIO | None = None
) -> None:
    """Print ``line()`` every ``interval_s`` until cancelled; None prints nothing that time."""
    while True:
        await trio.sleep(interval_s)
        text = line()
        if text is not None:
            print(text, file=out or sys.stderr, flush=True)


class Sending:
    """The sending phase's line: totals, and acknowledgements per second since the last one."""

    def __init__(self, snapshot: Callable[[], Stats]) -> None:
        self._snapshot = snapshot
        self._started = self._last_time = trio.current_time()
        self._last_acked = 0
        self._last_counts: tuple[int, ...] = ()

    def __call__(self) -> str | None:
        now, stats = trio.current_time(), self._snapshot()
        counts = (stats.readings_sent, stats.requests, stats.retries, stats.transport_errors)
        if counts == self._last_counts:
            return None
        rate = (stats.readings_acked - self._last_acked) / max(now - self._last_time, 1e-9)
        self._last_acked, self._last_time, self._last_counts = stats.readings_acked, now, counts
        return report.progress_line(stats, now - self._started, rate)


def live_line(snapshot: Callable[[], Tally]) -> Callable[[], str | None]:
    """The line of whichever phase the run is in: sending, then verifying."""
    sending = Sending(lambda: snapshot().stats or Stats())

    def line() -> str | None:
        verification = snapshot().verification
        return sending() if verification is None else report.verifying_line(verification)

    return line
