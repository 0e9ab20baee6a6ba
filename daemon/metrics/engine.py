"""The engine's own figures over every worker (the fleet summary's ``engine`` part), read from
the metrics as collected, and the latency quantiles estimated from their histograms.

Free of prometheus-client: it reads what the recorder collected, as plain families.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True, slots=True)
class Engine:
    """The engine's figures of the fleet summary, over every worker."""

    workers: int
    readings_per_second: float
    accepted: int
    rejected: int
    queue_depth: list[int]
    flush_p50_s: float | None
    flush_p99_s: float | None
    uptime_s: float


def quantile(q: float, buckets: Sequence[tuple[float, float]]) -> float | None:
    """The ``q`` quantile of a cumulative histogram ``[(upper bound, count), ...]`` ending in
    +Inf, interpolated linearly inside its bucket (as Prometheus's ``histogram_quantile``); None
    without observations."""
    total = buckets[-1][1] if buckets else 0
    if total == 0:
        return None
    rank = q * total
    lower, below = 0.0, 0.0
    for upper, count in buckets:
        if count >= rank:
            if upper == float("inf"):
                return lower
            return lower + (upper - lower) * (rank - below) / (count - below)
        lower, below = upper, count
    return lower


def figures(families: Mapping[str, Any], now: float) -> Engine:
    """The engine's figures from every worker's collected metric ``families`` (by name); the
    flush quantiles are since start."""

    def values(name: str, suffix: str = "") -> Iterable[tuple[dict[str, str], float]]:
        family = families.get(name)
        samples = [] if family is None else family.samples
        return ((s.labels, s.value) for s in samples if s.name == name + suffix)

    depths = sorted(
        ((int(labels["worker"]), int(labels["shard"])), value)
        for labels, value in values("ingest_queue_depth")
    )
    buckets = sorted(
        (float(labels["le"]), value)
        for labels, value in values("ingest_flush_duration_seconds", "_bucket")
    )
    started = [value for _, value in values("ingest_start_time_seconds")]
    return Engine(
        workers=int(max((v for _, v in values("ingest_workers")), default=1)),
        readings_per_second=sum(v for _, v in values("ingest_readings_per_second")),
        accepted=int(sum(v for _, v in values("ingest_readings_accepted", "_total"))),
        rejected=int(sum(v for _, v in values("ingest_readings_rejected", "_total"))),
        queue_depth=[int(depth) for _, depth in depths],
        flush_p50_s=quantile(0.5, buckets),
        flush_p99_s=quantile(0.99, buckets),
        uptime_s=max(0.0, now - min(started, default=now)),
    )
