"""When to try a request again, and when to stop trying: pure arithmetic, tested without a
network or a clock.

A failed connection and a 503 are worth another try (every call the generator makes is safe to
repeat: duplicate readings replace, a link is replaced by itself); anything else is final. The
wait is the 503's Retry-After when it has one (docs/api.md promises whole seconds), else a backoff
that doubles from 0.25 s up to 5 s. Two limits, both ``--give-up-s``: one request retried that
long is given up (its readings become uncertain); and when no request at all has had an answer
for that long, the engine is gone and the run stops (``Patience``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

BACKOFF_FIRST_S = 0.25
BACKOFF_CAP_S = 5.0


@dataclass(frozen=True, slots=True)
class Retry:
    after_s: float


@dataclass(frozen=True, slots=True)
class GiveUp:
    """This request has waited ``--give-up-s``: what it carried may or may not be stored."""


def retryable(status: int | None) -> bool:
    """``None`` is a failed connection: refused, reset, timed out."""
    return status is None or status == 503


def delay_s(status: int | None, retry_after: str | None, attempt: int) -> float:
    """How long to wait before retry number ``attempt`` (1 for the first)."""
    if status == 503 and retry_after is not None and retry_after.strip().isdigit():
        return float(retry_after.strip())
    return min(BACKOFF_CAP_S, BACKOFF_FIRST_S * 2.0 ** (attempt - 1))


def decide(
    status: int | None, retry_after: str | None, *, attempt: int, waited_s: float, give_up_s: float
) -> Retry | GiveUp | None:
    """After try number ``attempt``: retry, give this request up, or None for a final answer."""
    if not retryable(status):
        return None
    after_s = delay_s(status, retry_after, attempt)
    if waited_s + after_s > give_up_s:
        return GiveUp()
    return Retry(after_s)


class Patience:
    """One clock for the whole run: how long the engine has gone without answering any
    request. Under backpressure some requests get 503s while others are answered, which keeps
    it at zero; when the engine is down, restarting or hung, every request fails and it runs,
    from the start of the first failed try after the last answer (so a try that hung until
    its timeout counts whole)."""

    def __init__(self, give_up_s: float) -> None:
        self.give_up_s = give_up_s
        self.last_failure = ""
        """What the last failure was ("connection refused", "503 ..."), for the sentence."""
        self._last_answer = -math.inf
        self._failing_since: float | None = None

    def answered(self, now: float) -> None:
        self._last_answer = now
        self._failing_since = None

    def failed(self, tried_at: float, cause: str) -> None:
        """A try begun at ``tried_at`` got no answer."""
        if self._failing_since is None:
            self._failing_since = max(tried_at, self._last_answer)
        self.last_failure = cause

    def silent_s(self, now: float) -> float:
        """How long the engine has been answering nothing; 0 while it answers."""
        return 0.0 if self._failing_since is None else now - self._failing_since

    def exhausted(self, now: float) -> bool:
        return self.silent_s(now) >= self.give_up_s
