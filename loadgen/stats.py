"""Latency and outcome counters: bounded memory however long the run, and mergeable, so that
several processes can report one summary.

Latencies go into logarithmic buckets 1 percent wide: a 28.8-million-reading replay keeps a
few hundred integers, and every percentile is exact to within 1 percent.
"""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

_GROWTH = 1.01
_LOG_GROWTH = math.log(_GROWTH)
_FLOOR_S = 1e-5


def _bucket(seconds: float) -> int:
    return max(0, math.ceil(math.log(max(seconds, _FLOOR_S) / _FLOOR_S) / _LOG_GROWTH))


def _upper(bucket: int) -> float:
    return _FLOOR_S * _GROWTH**bucket


@dataclass
class Stats:
    """Everything a run counts; ``merge`` adds another process's counts."""

    readings_sent: int = 0
    readings_acked: int = 0
    requests: int = 0
    retries: int = 0
    transport_errors: int = 0
    unexpected: int = 0
    """Responses other than the one expected (a valid reading refused, a fault accepted)."""
    faults_rejected: int = 0
    """Injected invalid or clock-ahead readings refused, as they must be."""
    statuses: Counter[str] = field(default_factory=Counter)
    latency_buckets: Counter[int] = field(default_factory=Counter)
    latency_max_s: float = 0.0

    def observe(self, latency_s: float) -> None:
        self.latency_buckets[_bucket(latency_s)] += 1
        self.latency_max_s = max(self.latency_max_s, latency_s)

    def percentile(self, fraction: float) -> float | None:
        """The latency below which ``fraction`` of requests fell (upper bucket edge)."""
        total = sum(self.latency_buckets.values())
        if total == 0:
            return None
        rank = math.ceil(fraction * total)
        seen = 0
        for bucket in sorted(self.latency_buckets):
            seen += self.latency_buckets[bucket]
            if seen >= rank:
                return min(_upper(bucket), self.latency_max_s)
        return self.latency_max_s

    def merge(self, other: Stats) -> None:
        self.readings_sent += other.readings_sent
        self.readings_acked += other.readings_acked
        self.requests += other.requests
        self.retries += other.retries
        self.transport_errors += other.transport_errors
        self.unexpected += other.unexpected
        self.faults_rejected += other.faults_rejected
        self.statuses.update(other.statuses)
        self.latency_buckets.update(other.latency_buckets)
        self.latency_max_s = max(self.latency_max_s, other.latency_max_s)

    def to_json(self) -> dict[str, Any]:
        return {
            "readings_sent": self.readings_sent,
            "readings_acked": self.readings_acked,
            "requests": self.requests,
            "retries": self.retries,
            "transport_errors": self.transport_errors,
            "unexpected": self.unexpected,
            "faults_rejected": self.faults_rejected,
            "statuses": dict(self.statuses),
            "latency_buckets": {str(k): v for k, v in self.latency_buckets.items()},
            "latency_max_s": self.latency_max_s,
        }

    @staticmethod
    def from_json(data: dict[str, Any]) -> Stats:
        return Stats(
            readings_sent=data["readings_sent"],
            readings_acked=data["readings_acked"],
            requests=data["requests"],
            retries=data["retries"],
            transport_errors=data["transport_errors"],
            unexpected=data["unexpected"],
            faults_rejected=data["faults_rejected"],
            statuses=Counter(data["statuses"]),
            latency_buckets=Counter({int(k): v for k, v in data["latency_buckets"].items()}),
            latency_max_s=data["latency_max_s"],
        )
