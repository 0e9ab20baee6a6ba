"""The daemon's metrics, by Prometheus's conventions, covering every worker process.

The only module that imports ``prometheus_client``. With several workers the parent sets
``PROMETHEUS_MULTIPROC_DIR`` for them before they start (the library reads it at import):
each worker then keeps its values in files there, and whichever worker answers ``/metrics``
or the fleet summary reads all of them. A single process keeps its values in its own
registry, so that several daemons in one process (the tests) do not mix their counts.

What is summed over workers and what stays per worker: counters and histograms are summed;
queue depths are per worker and shard; process figures (memory, CPU, descriptors) are per
worker process (a ``pid`` label) as ``ingest_worker_*``, since the process collector sees
only the process that answers. The flush latency quantiles of the summary are estimated from
the histogram's buckets since start, as Prometheus's ``histogram_quantile`` would.
"""

from __future__ import annotations

import os
import time
from collections import deque
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Final

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    ProcessCollector,
)
from prometheus_client.exposition import choose_encoder
from prometheus_client.multiprocess import MultiProcessCollector

from daemon.coalesce import Added

MULTIPROCESS_DIR: Final = "PROMETHEUS_MULTIPROC_DIR"
_LATENCY_BUCKETS: Final = (
    0.001,
    0.0025,
    0.005,
    0.01,
    0.025,
    0.05,
    0.1,
    0.25,
    0.5,
    1.0,
    2.5,
    5.0,
    10.0,
)
_ROWS_BUCKETS: Final = (1, 2, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000)
_RATE_WINDOW_S: Final = 10.0
# How long the summary's engine figures are reused: the sampler refreshes the gauges once a
# second, and reading every worker's metric files was a fifth of a worker's CPU under
# summary reads (py-spy, 4 connections).
_ENGINE_FRESH_S: Final = 1.0
# The process collector's figures worth having per worker: its sample, our gauge, the help.
_PROCESS_FIGURES: Final = (
    (
        "process_resident_memory_bytes",
        "ingest_worker_resident_memory_bytes",
        "Resident memory of each worker process.",
    ),
    (
        "process_cpu_seconds_total",
        "ingest_worker_cpu_seconds",
        "CPU time (user and system) each worker process has used.",
    ),
    ("process_open_fds", "ingest_worker_open_fds", "Open file descriptors of each worker process."),
)


def multiprocess_dir() -> str | None:
    return os.environ.get(MULTIPROCESS_DIR)


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

    def wire(self) -> dict[str, object]:
        return {
            "workers": self.workers,
            "readingsPerSecond": self.readings_per_second,
            "accepted": self.accepted,
            "rejected": self.rejected,
            "queueDepth": self.queue_depth,
            "flushSeconds": {"p50": self.flush_p50_s, "p99": self.flush_p99_s},
            "uptimeSeconds": self.uptime_s,
        }


def quantile(q: float, buckets: Sequence[tuple[float, float]]) -> float | None:
    """The ``q`` quantile of a cumulative histogram ``[(upper bound, count), ...]`` ending in
    +Inf, interpolated linearly inside its bucket; None without observations."""
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


class Metrics:
    """Counters, gauges and histograms of one worker, and the view over all of them."""

    def __init__(self, *, worker: int, workers: int) -> None:
        self._worker = str(worker)
        self._multiprocess = multiprocess_dir() is not None
        registry = CollectorRegistry()
        self._registry = registry
        if not self._multiprocess:
            ProcessCollector(registry=registry)
        self._accepted = Counter(
            "ingest_readings_accepted",
            "Readings committed to PostgreSQL and acknowledged, by kind.",
            ["kind"],
            registry=registry,
        )
        self._rejected = Counter(
            "ingest_readings_rejected",
            "Readings refused with a 4xx or 503 (a body that could not be read as readings"
            " counts as one, of kind unknown).",
            ["kind"],
            registry=registry,
        )
        self._replaced = Counter(
            "ingest_readings_replaced",
            "Accepted readings whose device and timestamp were already stored or repeated in"
            " the same commit: they replaced the earlier one.",
            ["kind"],
            registry=registry,
        )
        self._requests = Counter(
            "ingest_http_requests",
            "HTTP requests answered, by route template, method and status.",
            ["route", "method", "status"],
            registry=registry,
        )
        self._latency = Histogram(
            "ingest_http_request_duration_seconds",
            "Time from a request's arrival to its answer, by route template and method.",
            ["route", "method"],
            buckets=_LATENCY_BUCKETS,
            registry=registry,
        )
        self._flush = Histogram(
            "ingest_flush_duration_seconds",
            "Time of one commit of a shard writer (one statement), partitions included.",
            buckets=_LATENCY_BUCKETS,
            registry=registry,
        )
        self._flush_rows = Histogram(
            "ingest_flush_rows",
            "History rows written by one commit.",
            buckets=_ROWS_BUCKETS,
            registry=registry,
        )
        self._database_errors = Counter(
            "ingest_database_errors",
            "Database calls that failed: unavailable (retried or answered 503) or error.",
            ["kind"],
            registry=registry,
        )
        self._retries = Counter(
            "ingest_flush_retries",
            "Commits retried after the database was unavailable.",
            registry=registry,
        )
        self._queue_depth = Gauge(
            "ingest_queue_depth",
            "Readings handed to a shard writer and not yet committed, by worker and shard.",
            ["worker", "shard"],
            multiprocess_mode="livesum",
            registry=registry,
        )
        self._rate = Gauge(
            "ingest_readings_per_second",
            f"Readings accepted per second over the last {_RATE_WINDOW_S:g} s.",
            multiprocess_mode="livesum",
            registry=registry,
        )
        self._workers = Gauge(
            "ingest_workers",
            "Worker processes serving the port.",
            multiprocess_mode="max",
            registry=registry,
        )
        self._started = Gauge(
            "ingest_start_time_seconds",
            "When the first worker started, in seconds since the Unix epoch.",
            multiprocess_mode="min",
            registry=registry,
        )
        self._connections = Gauge(
            "ingest_http_connections",
            "HTTP connections open, over every worker (each holds at most"
            " INGEST_MAX_CONNECTIONS; more wait in the listen backlog).",
            multiprocess_mode="livesum",
            registry=registry,
        )
        self._process_figures = {
            sample: Gauge(name, help_text, multiprocess_mode="all", registry=registry)
            for sample, name, help_text in _PROCESS_FIGURES
        }
        self._workers.set(workers)
        self._started.set(time.time())
        self._recent: deque[tuple[float, float]] = deque()
        self._process = ProcessCollector(registry=None)
        self._engine: tuple[float, Engine] | None = None

    # --- what happened ------------------------------------------------------------------

    def committed(
        self, meters: int, vehicles: int, added: Added, rows: int, seconds: float
    ) -> None:
        self._accepted.labels("meter").inc(meters)
        self._accepted.labels("vehicle").inc(vehicles)
        self._replaced.labels("meter").inc(meters - added.meters)
        self._replaced.labels("vehicle").inc(vehicles - added.vehicles)
        self._flush.observe(seconds)
        self._flush_rows.observe(rows)

    def rejected(self, kind: str, count: int = 1) -> None:
        self._rejected.labels(kind).inc(count)

    def retried(self) -> None:
        self._retries.inc()
        self._database_errors.labels("unavailable").inc()

    def database_error(self, kind: str) -> None:
        self._database_errors.labels(kind).inc()

    def answered(self, route: str, method: str, status: int, seconds: float) -> None:
        self._requests.labels(route, method, str(status)).inc()
        self._latency.labels(route, method).observe(seconds)

    def connections(self, open_now: int) -> None:
        self._connections.set(open_now)

    def sample(self, queue_depths: Sequence[int], accepted: int, now: float) -> None:
        """Refresh the gauges; called about once a second by the sampler."""
        for shard, depth in enumerate(queue_depths):
            self._queue_depth.labels(self._worker, str(shard)).set(depth)
        self._recent.append((now, accepted))
        while now - self._recent[0][0] > _RATE_WINDOW_S:
            self._recent.popleft()
        first_at, first = self._recent[0]
        self._rate.set((accepted - first) / (now - first_at) if now > first_at else 0.0)
        for family in self._process.collect():
            for sample in family.samples:
                gauge = self._process_figures.get(sample.name)
                if gauge is not None:
                    gauge.set(sample.value)

    # --- what is read ---------------------------------------------------------------------

    def _collected(self) -> CollectorRegistry:
        if not self._multiprocess:
            return self._registry
        registry = CollectorRegistry()
        MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
        return registry

    def exposition(self, accept: str | None) -> tuple[bytes, str]:
        """The metrics in the format the scraper asks for (Prometheus's text format 0.0.4
        unless it accepts OpenMetrics), and that format's content type."""
        encode, content_type = choose_encoder(accept or "")
        return encode(self._collected()), content_type

    def engine(self, now: float) -> Engine:
        """The engine's figures over every worker, at most ``_ENGINE_FRESH_S`` old."""
        if self._engine is not None and 0 <= now - self._engine[0] < _ENGINE_FRESH_S:
            return self._engine[1]
        figures = self._engine_now(now)
        self._engine = (now, figures)
        return figures

    def _engine_now(self, now: float) -> Engine:
        families = {family.name: family for family in self._collected().collect()}

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
