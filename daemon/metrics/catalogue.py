"""Every metric the daemon keeps, as one table: its name and help as Prometheus shows them, its
labels, and how a value of several worker processes is combined.

Names follow Prometheus's conventions (base units, ``_total`` added to counters by the client,
``_seconds`` histograms) and never carry a device id in a label.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final, Literal

LATENCY_BUCKETS: Final = (
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
ROWS_BUCKETS: Final = (1, 2, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000)
RATE_WINDOW_S: Final = 10.0


@dataclass(frozen=True, slots=True)
class Definition:
    name: str
    help: str
    labels: tuple[str, ...] = ()
    buckets: tuple[float, ...] = ()
    """Histograms only: the upper bounds of their buckets."""
    multiprocess_mode: Literal["liveall", "livesum", "max", "min"] = "liveall"
    """Gauges only: how the values of several workers combine (prometheus-client's modes)."""


COUNTERS: Final = {
    "accepted": Definition(
        "ingest_readings_accepted",
        "Readings committed to PostgreSQL and acknowledged, by kind.",
        ("kind",),
    ),
    "rejected": Definition(
        "ingest_readings_rejected",
        "Readings refused with a 4xx or 503 (a body that could not be read as readings counts"
        " as one, of kind unknown).",
        ("kind",),
    ),
    "replaced": Definition(
        "ingest_readings_replaced",
        "Accepted readings whose device and timestamp were already stored or repeated in the"
        " same commit: they replaced the earlier one.",
        ("kind",),
    ),
    "requests": Definition(
        "ingest_http_requests",
        "HTTP requests answered, by route template, method and status.",
        ("route", "method", "status"),
    ),
    "database_errors": Definition(
        "ingest_database_errors",
        "Database calls that failed: unavailable (retried or answered 503) or error.",
        ("kind",),
    ),
    "retries": Definition(
        "ingest_flush_retries", "Commits retried after the database was unavailable."
    ),
}
HISTOGRAMS: Final = {
    "latency": Definition(
        "ingest_http_request_duration_seconds",
        "Time from a request's arrival to its answer, by route template and method.",
        ("route", "method"),
        buckets=LATENCY_BUCKETS,
    ),
    "flush": Definition(
        "ingest_flush_duration_seconds",
        "Time of one commit of a shard writer (one statement), partitions included.",
        buckets=LATENCY_BUCKETS,
    ),
    "flush_rows": Definition(
        "ingest_flush_rows", "History rows written by one commit.", buckets=ROWS_BUCKETS
    ),
}
GAUGES: Final = {
    "queue_depth": Definition(
        "ingest_queue_depth",
        "Readings handed to a shard writer and not yet committed, by worker and shard.",
        ("worker", "shard"),
        multiprocess_mode="livesum",
    ),
    "rate": Definition(
        "ingest_readings_per_second",
        f"Readings accepted per second over the last {RATE_WINDOW_S:g} s.",
        multiprocess_mode="livesum",
    ),
    "workers": Definition(
        "ingest_workers", "Worker processes serving the port.", multiprocess_mode="max"
    ),
    "started": Definition(
        "ingest_start_time_seconds",
        "When the first worker started, in seconds since the Unix epoch.",
        multiprocess_mode="min",
    ),
    "connections": Definition(
        "ingest_http_connections",
        "HTTP connections open, over every worker (each holds at most INGEST_MAX_CONNECTIONS;"
        " more wait in the listen backlog).",
        multiprocess_mode="livesum",
    ),
}
PROCESS_FIGURES: Final = {
    "process_resident_memory_bytes": Definition(
        "ingest_worker_resident_memory_bytes", "Resident memory of each worker process."
    ),
    "process_cpu_seconds_total": Definition(
        "ingest_worker_cpu_seconds", "CPU time (user and system) each worker process has used."
    ),
    "process_open_fds": Definition(
        "ingest_worker_open_fds", "Open file descriptors of each worker process."
    ),
}
"""The process collector's figures worth having per worker (it sees only the process that
answers), by the collector's sample name: each becomes a gauge labelled by pid, gone with its
worker."""
