"""The daemon's metrics (``catalogue``), recorded by one worker and read over every worker.

With several workers the parent sets ``PROMETHEUS_MULTIPROC_DIR`` for them before they start (the
library reads it at import): each worker then keeps its values in files there, and whichever
worker answers ``/metrics`` or the fleet summary reads all of them. A single process keeps its
values in its own registry, so that several daemons in one process (the tests) do not mix their
counts.

Counters and histograms are summed over workers; queue depths are per worker and shard; process
figures (memory, CPU, descriptors) are per worker process (a ``pid`` label) as
``ingest_worker_*``, since the process collector sees only the process that answers.
"""

from __future__ import annotations

import os
import time
from collections import deque
from collections.abc import Sequence
from typing import Final

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, ProcessCollector
from prometheus_client.exposition import choose_encoder
from prometheus_client.multiprocess import MultiProcessCollector

from daemon.ingest.batch import Added
from daemon.metrics import catalogue, engine
from daemon.metrics.catalogue import RATE_WINDOW_S
from daemon.metrics.engine import Engine

MULTIPROCESS_DIR: Final = "PROMETHEUS_MULTIPROC_DIR"
# How long the engine's figures are reused: the sampler refreshes the gauges once a second, and
# reading every worker's metric files is costly (docs/performance.md, "Fleet views").
_ENGINE_FRESH_S: Final = 1.0


def multiprocess_dir() -> str | None:
    return os.environ.get(MULTIPROCESS_DIR)


class Metrics:
    """Counters, gauges and histograms of one worker, and the view over all of them."""

    def __init__(self, *, worker: int, workers: int) -> None:
        self._worker = str(worker)
        self._multiprocess = multiprocess_dir() is not None
        registry = CollectorRegistry()
        self._registry = registry
        if not self._multiprocess:
            ProcessCollector(registry=registry)
        self._counter = {
            key: Counter(d.name, d.help, d.labels, registry=registry)
            for key, d in catalogue.COUNTERS.items()
        }
        self._histogram = {
            key: Histogram(d.name, d.help, d.labels, buckets=d.buckets, registry=registry)
            for key, d in catalogue.HISTOGRAMS.items()
        }
        self._gauge = {
            key: Gauge(
                d.name, d.help, d.labels, multiprocess_mode=d.multiprocess_mode, registry=registry
            )
            for key, d in {**catalogue.GAUGES, **catalogue.PROCESS_FIGURES}.items()
        }
        self._gauge["workers"].set(workers)
        self._gauge["started"].set(time.time())
        self._recent: deque[tuple[float, float]] = deque()
        self._process = ProcessCollector(registry=None)
        self._engine: tuple[float, Engine] | None = None

    # --- what happened ------------------------------------------------------------------

    def committed(
        self, meters: int, vehicles: int, added: Added, rows: int, seconds: float
    ) -> None:
        accepted, replaced = self._counter["accepted"], self._counter["replaced"]
        accepted.labels("meter").inc(meters)
        accepted.labels("vehicle").inc(vehicles)
        replaced.labels("meter").inc(meters - added.meters)
        replaced.labels("vehicle").inc(vehicles - added.vehicles)
        self._histogram["flush"].observe(seconds)
        self._histogram["flush_rows"].observe(rows)

    def rejected(self, kind: str, count: int = 1) -> None:
        self._counter["rejected"].labels(kind).inc(count)

    def retried(self) -> None:
        self._counter["retries"].inc()
        self.database_error("unavailable")

    def database_error(self, kind: str) -> None:
        self._counter["database_errors"].labels(kind).inc()

    def answered(self, route: str, method: str, status: int, seconds: float) -> None:
        self._counter["requests"].labels(route, method, str(status)).inc()
        self._histogram["latency"].labels(route, method).observe(seconds)

    def connections(self, open_now: int) -> None:
        self._gauge["connections"].set(open_now)

    def sample(self, queue_depths: Sequence[int], accepted: int, now: float) -> None:
        """Refresh the gauges; called about once a second by the sampler."""
        for shard, depth in enumerate(queue_depths):
            self._gauge["queue_depth"].labels(self._worker, str(shard)).set(depth)
        self._recent.append((now, accepted))
        while now - self._recent[0][0] > RATE_WINDOW_S:
            self._recent.popleft()
        first_at, first = self._recent[0]
        rate = (accepted - first) / (now - first_at) if now > first_at else 0.0
        self._gauge["rate"].set(rate)
        for family in self._process.collect():
            for sample in family.samples:
                if sample.name in catalogue.PROCESS_FIGURES:
                    self._gauge[sample.name].set(sample.value)

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
        families = {family.name: family for family in self._collected().collect()}
        figures = engine.figures(families, now)
        self._engine = (now, figures)
        return figures
