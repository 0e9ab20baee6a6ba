"""Latency and outcome counters: bounded memory however long the run, and mergeable, so that
several processes can report one summary.

Latencies go into logarithmic buckets 1 percent wide: a 28.8-million-reading replay keeps a
few hundred integers, and every percentile is exact to within 1 percent.

Times are durations measured inside one process (processes' clocks are not comparable), so
they merge by taking the longest: the run time, the sending window, and for a realtime run each
minute's burst, from its boundary to the last answer of the readings due on it.
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
    elapsed_s: float = 0.0
    """From the start of sending to its end, waiting for the first minute boundary included."""
    window_s: float = 0.0
    """From the first request sent to the last answer: the time the engine was under load."""
    burst_readings: Counter[int] = field(default_factory=Counter)
    """Realtime runs: readings acknowledged per burst (minute index)."""
    burst_s: dict[int, float] = field(default_factory=dict)
    """Realtime runs: per burst, from its minute boundary to its last acknowledgement."""

    def answered(self, window_s: float) -> None:
        self.window_s = max(self.window_s, window_s)

    def burst(self, minute: int, readings: int, since_boundary_s: float) -> None:
        self.burst_readings[minute] += readings
        self.burst_s[minute] = max(self.burst_s.get(minute, 0.0), since_boundary_s)

    def burst_rate(self) -> float | None:
        """Readings per second while bursting: every burst's readings over their durations."""
        seconds = sum(self.burst_s.values())
        return sum(self.burst_readings.values()) / seconds if seconds > 0 else None

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
        self.elapsed_s = max(self.elapsed_s, other.elapsed_s)
        self.window_s = max(self.window_s, other.window_s)
        for minute, seconds in other.burst_s.items():
            self.burst(minute, other.burst_readings[minute], seconds)

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
            "elapsed_s": self.elapsed_s,
            "window_s": self.window_s,
            "bursts": {
                str(minute): [self.burst_readings[minute], seconds]
                for minute, seconds in self.burst_s.items()
            },
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
            elapsed_s=data["elapsed_s"],
            window_s=data["window_s"],
            burst_readings=Counter({int(k): v[0] for k, v in data["bursts"].items()}),
            burst_s={int(k): v[1] for k, v in data["bursts"].items()},
        )
