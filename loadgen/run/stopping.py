"""Ending a run early, in one place: the first reason wins, and whatever is running is asked
to end so that the summary so far can still be printed and the files closed.

A reason comes from a ``Stopped`` raised inside a phase (the engine gone, a refused token), or
from SIGINT or SIGTERM, which are watched rather than left to raise KeyboardInterrupt at an
arbitrary checkpoint. A phase runs under ``guard``: a stop cancels it, and a ``Stopped`` it
raises becomes the stop's reason instead of a traceback.
"""

from __future__ import annotations

import signal
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import trio

from loadgen.errors import Interrupted, Stopped, first_stop


class Stop:
    def __init__(self) -> None:
        self.reason: Stopped | None = None
        self._hooks: list[Callable[[], None]] = []

    def request(self, reason: Stopped) -> None:
        """Keep the first reason; ask everything registered to end (again is harmless)."""
        if self.reason is None:
            self.reason = reason
        for hook in list(self._hooks):
            hook()

    @contextmanager
    def on_request(self, hook: Callable[[], None]) -> Iterator[None]:
        self._hooks.append(hook)
        try:
            if self.reason is not None:
                hook()
            yield
        finally:
            self._hooks.remove(hook)

    @contextmanager
    def guard(self) -> Iterator[None]:
        with trio.CancelScope() as scope, self.on_request(scope.cancel):
            try:
                yield
            except* Stopped as group:
                self.request(first_stop(group))

    async def watch_signals(self) -> None:
        """Until cancelled: SIGINT and SIGTERM become reasons to stop."""
        with trio.open_signal_receiver(signal.SIGINT, signal.SIGTERM) as signals:
            async for signum in signals:
                self.request(Interrupted(signum))
