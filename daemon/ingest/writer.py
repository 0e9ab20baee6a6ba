"""A shard writer: the one task that writes a shard's readings to PostgreSQL.

Owns: the readings its shard received since its last commit (a ``ShardBatch``).
Receives: ``Submission``s on its inbox, a bounded memory channel fed by the intake.
Emits: one transaction per flush (history, rollups and latest state together), then tells
every submission in it that it is committed (group commit); the waiting requests answer 201.
Each commit and each retry is reported to the ``FlushObserver`` (the metrics).

Group commit that never idles: a writer with nothing in flight commits what it holds at once;
what arrives while a commit runs waits in the inbox and rides on the next one, so batches grow
with the load by themselves and latency does not cap throughput (Little's law). A positive
``linger_s`` makes the writer wait that long after its first reading for more before it
commits (the older timed tick, kept so the benchmark can compare both). A batch never exceeds
``max_batch`` rows; the intake bounds what waits.

Errors: ``StoreUnavailable`` is retried with capped backoff while the readings wait. A flush
the database refuses for another reason (``StoreError``: retrying would not help) is logged
once with its cause, its submissions are told it failed (their requests answer 500, nothing of
that flush stored), readiness says so for a while, and the writer goes on with the next one.

Shutdown: when the inbox is closed, the writer flushes what it holds and returns. If it is
cancelled first (the shutdown grace ran out), it logs how many readings it held; none of them
had been acknowledged.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from datetime import date
from typing import Protocol

import trio

from daemon.errors import StoreError, StoreUnavailable
from daemon.ingest.batch import Added, FlushRows, ShardBatch
from daemon.partitions import days_of
from daemon.readings import Reading

log = logging.getLogger(__name__)

_BACKOFF_FIRST_S = 0.05
_BACKOFF_MAX_S = 5.0
REFUSAL_SHOWN_S = 60.0


class Submission:
    """Readings of one request bound for one shard, and whom to tell once their flush is done:
    with None when it committed, else why it failed."""

    __slots__ = ("_on_done", "readings")

    def __init__(self, readings: Sequence[Reading], on_done: Callable[[str | None], None]) -> None:
        self.readings = readings
        self._on_done = on_done

    def done(self, failure: str | None) -> None:
        self._on_done(failure)


class Sink(Protocol):
    """The part of the store a writer needs."""

    async def ensure_partitions(self, days: set[date]) -> int: ...

    async def write(self, rows: FlushRows) -> Added: ...


class FlushObserver(Protocol):
    """Where a writer reports its commits and retries (the metrics)."""

    def committed(
        self, meters: int, vehicles: int, added: Added, rows: int, seconds: float
    ) -> None: ...

    def retried(self) -> None: ...

    def database_error(self, kind: str) -> None: ...


class WriterState:
    """What the writer tells the rest of the daemon: readiness needs to know whether it is
    stuck retrying a commit, or had its last one refused not long ago."""

    def __init__(self, shard: int) -> None:
        self.shard = shard
        self.retrying = False
        self._refused: tuple[float, str] | None = None

    def refused(self, error: str) -> None:
        self._refused = (time.monotonic(), error)

    def committed(self) -> None:
        self.retrying = False
        self._refused = None

    def refusal(self) -> str | None:
        """Why the last flush was refused, for ``REFUSAL_SHOWN_S`` after it and until a flush
        commits; None otherwise. Shown for a while only: a writer that gets no readings (say
        because a load balancer heeded its readiness) would otherwise never be ready again."""
        if self._refused is None or time.monotonic() - self._refused[0] > REFUSAL_SHOWN_S:
            return None
        return self._refused[1]


async def run(
    inbox: trio.MemoryReceiveChannel[Submission],
    sink: Sink,
    state: WriterState,
    observer: FlushObserver,
    *,
    linger_s: float,
    max_batch: int,
    task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED,
) -> None:
    task_status.started()
    async with inbox:
        closed = False
        while not closed:
            batch = ShardBatch()
            held: list[Submission] = []
            try:
                closed = await _gather(inbox, batch, held, linger_s=linger_s, max_batch=max_batch)
                failure = await _commit(sink, batch, state, observer) if held else None
            except trio.Cancelled:
                if held:
                    log.error(
                        "cancelled before these readings were committed;"
                        " none of them was acknowledged",
                        extra={"shard": state.shard, "readings": batch.received},
                    )
                raise
            for submission in held:
                submission.done(failure)


async def _gather(
    inbox: trio.MemoryReceiveChannel[Submission],
    batch: ShardBatch,
    held: list[Submission],
    *,
    linger_s: float,
    max_batch: int,
) -> bool:
    """Wait (untimed) for a first submission, linger if asked to, then take whatever else is
    already waiting, up to a full batch. Returns True once the inbox is closed and empty."""
    try:
        _take(batch, held, await inbox.receive())
    except trio.EndOfChannel:
        return True
    if linger_s > 0:
        with trio.move_on_after(linger_s):
            while len(batch) < max_batch:
                try:
                    _take(batch, held, await inbox.receive())
                except trio.EndOfChannel:
                    return True
    while len(batch) < max_batch:
        try:
            _take(batch, held, inbox.receive_nowait())
        except trio.WouldBlock:
            return False
        except trio.EndOfChannel:
            return True
    return False


def _take(batch: ShardBatch, held: list[Submission], sub: Submission) -> None:
    for reading in sub.readings:
        batch.add(reading)
    held.append(sub)


async def _commit(
    sink: Sink, batch: ShardBatch, state: WriterState, observer: FlushObserver
) -> str | None:
    """Commit the batch, retrying while the database is unavailable; None once committed, or
    why the database refused it."""
    rows = batch.rows()
    days = days_of(rows.meter_history.ts) | days_of(rows.vehicle_history.ts)
    backoff = _BACKOFF_FIRST_S
    while True:
        started = trio.current_time()
        try:
            await sink.ensure_partitions(days)
            added = await sink.write(rows)
        except StoreUnavailable as error:
            state.retrying = True
            observer.retried()
            log.warning(
                "database unavailable; retrying the flush",
                extra={"shard": state.shard, "error": str(error), "retry_in_s": backoff},
            )
            await trio.sleep(backoff)
            backoff = min(backoff * 2, _BACKOFF_MAX_S)
            continue
        except StoreError as error:
            state.refused(str(error))
            observer.database_error("error")
            log.error(
                "the database refused a flush: its readings were not stored, their requests"
                " answered 500",
                extra={"shard": state.shard, "readings": len(batch), "error": str(error)},
            )
            return str(error)
        state.committed()
        observer.committed(
            batch.meters_received,
            batch.vehicles_received,
            added,
            len(batch),
            trio.current_time() - started,
        )
        return None
