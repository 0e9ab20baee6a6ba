"""Why the monitor has no fresh data: the three ways a call to the daemon can go wrong.

Standard library only, so the wire shapes and the HTTP client share them without pulling in
the terminal UI. Each message is a sentence the header can show as it is.
"""

from __future__ import annotations


class DaemonError(Exception):
    """Base of everything the client raises: the poll catches this one class and shows it."""


class Unreachable(DaemonError):
    """No answer at all (refused, reset, timed out): worth retrying as it is."""


class BadAnswer(DaemonError):
    """An answer the monitor cannot use (5xx, refused token, non-JSON, wrong shape): the
    daemon is up but something is off, so it is reported apart from being unreachable."""


class NotFound(DaemonError):
    """A 404 whose message the daemon wrote for people (no such vehicle, no meter link)."""
