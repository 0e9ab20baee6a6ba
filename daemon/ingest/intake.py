"""The front's door to the shard writers: routes readings, applies backpressure, awaits commits.

Backpressure policy of this edge: each shard admits at most ``queue_readings`` readings that
are not yet committed (queued, held by its writer, or in its transaction). A request that
would exceed that on any of its shards is turned away whole with ``QueueFull``, before any of
its readings is handed over, so a 503 never stores part of a request. Handing over is
``send_nowait`` and cannot block: a shard's inbox has room for ``queue_readings``
submissions, and every submission holds at least one reading.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from functools import partial
from typing import Protocol

import trio

from daemon.ingest.routing import shard_of
from daemon.ingest.writer import Submission
from daemon.readings import Reading


class QueueFull(Exception):
    """A shard has no room for this request now; nothing of it was taken."""


class Closed(Exception):
    """The daemon is shutting down and takes no more readings."""


class CommitFailed(Exception):
    """The database refused a flush that held some of a request's readings (not for want of
    a connection: retrying the flush would not help). The message is the database's reason."""


class Committing(Protocol):
    async def wait(self) -> None:
        """Return once the readings offered are committed; ``CommitFailed`` if a flush that
        held some of them was refused."""


class Ingest(Protocol):
    """What the front hands readings to: the intake below, or a benchmark's reference path."""

    def offer(self, readings: Sequence[Reading]) -> Committing: ...


class Ack:
    """The commit of one request: done once every shard it touched is done with its part."""

    __slots__ = ("_event", "_failure", "_parts")

    def __init__(self, parts: int) -> None:
        self._parts = parts
        self._event = trio.Event()
        self._failure: str | None = None

    def part_done(self, failure: str | None) -> None:
        self._failure = self._failure or failure
        self._parts -= 1
        if self._parts == 0:
            self._event.set()

    async def wait(self) -> None:
        await self._event.wait()
        if self._failure is not None:
            raise CommitFailed(self._failure)


class Intake:
    def __init__(
        self, inboxes: Sequence[trio.MemorySendChannel[Submission]], queue_readings: int
    ) -> None:
        self._inboxes = list(inboxes)
        self._limit = queue_readings
        self._uncommitted = [0] * len(inboxes)
        self._closed = False
        self.committed = 0
        """Readings committed since start, duplicates included."""

    @staticmethod
    def open_inboxes(
        shards: int, queue_readings: int
    ) -> tuple[
        list[trio.MemorySendChannel[Submission]], list[trio.MemoryReceiveChannel[Submission]]
    ]:
        pairs = [trio.open_memory_channel[Submission](queue_readings) for _ in range(shards)]
        return [send for send, _ in pairs], [receive for _, receive in pairs]

    def offer(self, readings: Sequence[Reading]) -> Ack:
        """Hand readings to their shards, all or none; the returned ``Ack`` fires on commit."""
        if self._closed:
            raise Closed
        parts: defaultdict[int, list[Reading]] = defaultdict(list)
        shards = len(self._inboxes)
        for reading in readings:
            parts[shard_of(reading.device_id, shards)].append(reading)
        for shard, part in parts.items():
            if self._uncommitted[shard] + len(part) > self._limit:
                raise QueueFull
        ack = Ack(len(parts))
        for shard, part in parts.items():
            self._uncommitted[shard] += len(part)
            on_done = partial(self._done, shard, len(part), ack)
            self._inboxes[shard].send_nowait(Submission(part, on_done))
        return ack

    def queue_depths(self) -> list[int]:
        """Readings handed to each shard and not yet committed."""
        return list(self._uncommitted)

    def _done(self, shard: int, count: int, ack: Ack, failure: str | None) -> None:
        self._uncommitted[shard] -= count
        if failure is None:
            self.committed += count
        ack.part_done(failure)

    def close(self) -> None:
        """Take no more readings; writers drain what they have and return."""
        self._closed = True
        for inbox in self._inboxes:
            inbox.close()

    @property
    def accepting(self) -> bool:
        return not self._closed
