"""The project's own exceptions, so that no caller has to know which library failed, and what
a client's mistake is made of (``Problem``), whichever part of the daemon found it."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass


class ConfigError(ValueError):
    """A setting is missing or out of range; the message names the variable and the flag."""


class StoreUnavailable(Exception):
    """PostgreSQL cannot be reached right now (connection lost, server starting or restarting).

    Transient by definition: writers retry it with backoff, readers answer 503.
    """


class StoreError(Exception):
    """PostgreSQL refused a statement for a reason that retrying will not fix."""


class StartupFailed(Exception):
    """The daemon cannot start, for a reason that its user can fix (a port taken, a database
    out of reach, a data directory it cannot write). The message is the whole story, the cause
    and what to do, in one sentence, so it is logged without a traceback."""

    def __init__(self, message: str, *, exit_code: int = 1) -> None:
        super().__init__(message)
        self.exit_code = exit_code
        """1 when the world is not as the daemon needs it, 2 when a setting is wrong."""


@dataclass(frozen=True, slots=True)
class Problem:
    """One thing wrong with what a client sent: the field, and what it must be."""

    field: str
    message: str
    index: int | None = None
    """The item of a batch it is in; None outside a batch."""

    def sentence(self) -> str:
        where = "" if self.index is None else f"item {self.index}: "
        return f"{where}{self.field} {self.message}"


class InvalidInput(ValueError):
    """What the client sent cannot be stored; ``problems`` says where and why."""

    def __init__(self, message: str, problems: Sequence[Problem] = ()) -> None:
        super().__init__(message)
        self.message = message
        self.problems = tuple(problems)
