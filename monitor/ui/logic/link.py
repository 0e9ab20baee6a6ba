"""What the monitor knows of its connection to the daemon, and how the header says it.

Kept apart from the widget so the states (connecting, ready, not ready, unreachable, odd
answers) and their sentences are tested without a terminal.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from monitor.api.errors import DaemonError, Unreachable
from monitor.api.wire import Readiness
from monitor.ui.logic import figures
from monitor.ui.logic.bands import Band


@dataclass(frozen=True, slots=True)
class Link:
    readiness: Readiness | None = None
    """From the last /readyz answer; None before it, or while the daemon is unreachable."""
    problem: DaemonError | None = None
    """Why the last poll failed; None once one succeeds."""
    answered_at: float | None = None
    """Monotonic time the last full poll succeeded: the age of what is on screen."""
    retry_at: float | None = None

    def checked(self, readiness: Readiness) -> Link:
        return replace(self, readiness=readiness)

    def answered(self, at: float) -> Link:
        return replace(self, problem=None, answered_at=at, retry_at=None)

    def failed(self, problem: DaemonError, at: float, retry_in_s: float) -> Link:
        readiness = None if isinstance(problem, Unreachable) else self.readiness
        return replace(self, readiness=readiness, problem=problem, retry_at=at + retry_in_s)


def describe(link: Link, now: float) -> list[tuple[str, Band]]:
    """The header's parts after the URL, most telling first, since a narrow terminal cuts the
    line at its end: the state, how old the data is, when the next try comes, then why."""
    if link.problem is not None:
        state = "✖ unreachable" if isinstance(link.problem, Unreachable) else "✖ error"
        parts = [(state, Band.BAD)]
    elif link.readiness is None:
        parts = [("… connecting", Band.NONE)]
    elif link.readiness.ready:
        parts = [("● ready", Band.OK)]
    else:
        parts = [("▲ not ready", Band.WARN)]
    if link.answered_at is not None:
        parts.append((f"updated {figures.age(now - link.answered_at)} ago", Band.NONE))
    if link.problem is not None:
        if link.retry_at is not None:
            parts.append((f"retry in {figures.age(link.retry_at - now)}", Band.NONE))
        parts.append((str(link.problem), Band.BAD))
    elif link.readiness is not None and link.readiness.reason:
        parts.append((link.readiness.reason, Band.WARN))
    return parts
