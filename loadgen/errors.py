"""Why a run ends before its plan does, each as a sentence a person can act on.

A run raises one of these where it knows what went wrong (it names the URL, the call and what
to do), and the command line catches this one class: it prints the summary so far and the
sentence, and exits with the status the reason carries. So a missing daemon, a refused token or
Ctrl-C is one line, never a traceback. Standard library only.
"""

from __future__ import annotations

import signal


class Stopped(Exception):
    """The run stops: ``str()`` is the sentence, ``status`` the process's exit status."""

    def __init__(self, sentence: str, status: int = 1) -> None:
        super().__init__(sentence)
        self.status = status


class Unreachable(Stopped):
    """No answer from the engine: at the start, or for longer than ``--give-up-s`` later."""


class Refused(Stopped):
    """401 or 403: the token is missing, unknown or lacks the role; retrying cannot help."""


class BadAnswer(Stopped):
    """An answer the run cannot go on with (the URL is not the engine, a link failed, ...)."""


class Interrupted(Stopped):
    """SIGINT or SIGTERM: exit status 128 plus the signal's number, as shells report it."""

    def __init__(self, signum: int) -> None:
        name = signal.Signals(signum).name
        super().__init__(f"interrupted by {name}", status=128 + signum)


def first_stop(group: BaseExceptionGroup[Stopped]) -> Stopped:
    """The first reason in a nursery's group (several workers often stop for the same one)."""
    leaf = group.exceptions[0]
    return leaf if isinstance(leaf, Stopped) else first_stop(leaf)
