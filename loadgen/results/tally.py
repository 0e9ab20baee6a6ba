"""What a run has done so far, in one value: the statistics of sending and, once it verifies,
the verification. Mergeable and serialisable, so worker processes report it to their parent
(live and at the end) and the parent reports their sum, however the run ended."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from loadgen.results.stats import Stats
from loadgen.results.verify import Verification


@dataclass
class Linking:
    """How far the links are (the parent links before any worker starts)."""

    total: int
    linked: int = 0
    retries: int = 0

    def to_json(self) -> dict[str, int]:
        return {"sites": self.total, "linked": self.linked, "retries": self.retries}


@dataclass
class Tally:
    stats: Stats | None = None
    """None until sending starts."""
    verification: Verification | None = None
    """None unless verification started."""
    linking: Linking | None = None

    def merge(self, other: Tally) -> None:
        if other.stats is not None:
            self.stats = self.stats or Stats()
            self.stats.merge(other.stats)
        if other.verification is not None:
            self.verification = self.verification or Verification()
            self.verification.merge(other.verification)

    def to_json(self) -> dict[str, Any]:
        return {
            "stats": None if self.stats is None else self.stats.to_json(),
            "verification": None if self.verification is None else self.verification.to_json(),
        }

    @staticmethod
    def from_json(data: dict[str, Any]) -> Tally:
        stats, verification = data["stats"], data["verification"]
        return Tally(
            stats=None if stats is None else Stats.from_json(stats),
            verification=None if verification is None else Verification.from_json(verification),
        )
