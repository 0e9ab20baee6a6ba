"""What to send and when: the readings of each request and its intended send time.

Pure and lazy: it simulates minute after minute as the runner pulls requests, so a full day
of 10,000 sites never sits in memory as requests. Three pacings share one order (minute by
minute, every site):

- replay: as fast as the engine takes it (closed loop, ``release_s`` is None);
- realtime: every reading of a minute is due on that minute's boundary (the burst);
- rate: open loop, reading k is due at k / rate seconds, so a slow engine cannot hide
  behind a slow client: latency counts from the due time, not from when it was sent.

Faults are drawn from the plan's own seeded generator, so a run is reproducible.
"""

from __future__ import annotations

import json
import math
import random
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from itertools import islice
from typing import Any

from loadgen.simulation import wire
from loadgen.simulation.fleet import VehicleSample
from loadgen.simulation.ledger import Kind, Ledger

Ref = tuple[int, int, Kind]
"""(site position, minute index, kind) of one reading of the data set."""


@dataclass(frozen=True, slots=True)
class Faults:
    out_of_order: float = 0.0
    """Share of readings held back and sent two minutes late."""
    duplicates: float = 0.0
    """Share of readings sent a second time, identical, later."""
    invalid: float = 0.0
    """Invalid payloads per reading, each a request of its own that must get 400."""
    clock_ahead: float = 0.0
    """Readings stamped an hour past the run's newest minute, per reading: always beyond the
    engine's allowed clock skew, so each is a request that must get 400."""


@dataclass(frozen=True, slots=True)
class Pacing:
    """When request number k is due, in seconds after the run starts; None: right away."""

    mode: str
    rate: float = 0.0
    first_minute_s: float = 0.0

    def due(self, minute: int, last_reading: int) -> float | None:
        if self.mode == "rate":
            return last_reading / self.rate
        if self.mode == "realtime":
            return self.first_minute_s + 60.0 * minute
        return None

    def burst(self, minute: int) -> int | None:
        """Realtime: the burst a request of ``minute`` belongs to (its boundary)."""
        return minute if self.mode == "realtime" else None


@dataclass(slots=True)
class Request:
    body: bytes
    batch: bool
    refs: list[Ref]
    """The data-set readings in it; empty for an injected fault."""
    expect: int
    release_s: float | None
    burst: int | None = None
    """Realtime: the minute boundary it is due on, whose burst it is part of."""


_Item = tuple[dict[str, Any], Ref]


def _readings(ledger: Ledger, minutes: int) -> Iterator[tuple[int, _Item, VehicleSample]]:
    """The data set in send order: minute by minute, each site's meter then its vehicle."""
    for minute in range(minutes):
        ts = wire.timestamp(ledger.ts(minute))
        for position, site in enumerate(ledger.sites):
            meter, vehicle = site.step()
            index = ledger.record(position, meter, vehicle)
            yield minute, (wire.meter(meter, ts), (position, index, Kind.METER)), vehicle
            yield minute, (wire.vehicle(vehicle, ts), (position, index, Kind.VEHICLE)), vehicle


def plan(
    ledger: Ledger,
    minutes: int,
    *,
    batch: int,
    pacing: Pacing,
    faults: Faults,
    seed: int,
    limit: int | None = None,
) -> Iterator[Request]:
    """Every request of the run, in order. ``limit`` caps the readings of the data set.
    ``batch`` 0 sends single readings to /v1/ingest; N sends N per /v1/ingest/batch."""
    rng = random.Random(f"plan:{seed}")
    size = max(batch, 1)
    late: defaultdict[int, list[_Item]] = defaultdict(list)
    pending: list[_Item] = []
    due: float | None = None
    current = -1
    fast = wire.timestamp(ledger.ts(minutes - 1) + timedelta(hours=1))
    for produced, (minute, item, vehicle) in enumerate(
        islice(_readings(ledger, minutes), limit), 1
    ):
        if minute != current:
            current = minute
            for held in sorted(m for m in late if m <= minute):
                pending.extend(late.pop(held))
        due = pacing.due(minute, produced)
        if rng.random() < faults.out_of_order:
            late[minute + 2].append(item)
        else:
            pending.append(item)
        if rng.random() < faults.duplicates:
            late[minute + 1].append(item)
        ts = item[0]["timestamp"]
        if rng.random() < faults.invalid:
            broken = rng.choice(wire.INVALID)(wire.vehicle(vehicle, ts))
            yield _fault(broken, due)
        if rng.random() < faults.clock_ahead:
            yield _fault(wire.vehicle(vehicle, fast), due)
        while len(pending) >= size:
            yield _request(pending[:size], batch > 0, due, pacing.burst(current))
            del pending[:size]
    for held in sorted(late):
        pending.extend(late[held])
    for start in range(0, len(pending), size):
        yield _request(pending[start : start + size], batch > 0, due, pacing.burst(current))


def _request(items: list[_Item], batch: bool, due: float | None, burst: int | None) -> Request:
    payloads = [payload for payload, _ in items]
    return Request(
        body=json.dumps(payloads if batch else payloads[0]).encode(),
        batch=batch,
        refs=[ref for _, ref in items],
        expect=201,
        release_s=due,
        burst=burst,
    )


def _fault(payload: dict[str, Any], due: float | None) -> Request:
    return Request(
        body=json.dumps(payload).encode(), batch=False, refs=[], expect=400, release_s=due
    )


def readings_for(rate: float, duration_s: float) -> int:
    """How many readings an open-loop run at ``rate`` for ``duration_s`` sends."""
    return math.floor(rate * duration_s)


def minutes_for(readings: int, sites: int) -> int:
    """Simulated minutes needed for ``readings`` when every minute has two per site."""
    return max(1, math.ceil(readings / (2 * sites)))


def first_minute(now: datetime, minutes: int) -> datetime:
    """Start of a window of ``minutes`` whole minutes whose last one is the current minute, so
    that every timestamp is in the past and the newest is as recent as can be."""
    current = now.replace(second=0, microsecond=0)
    return current - timedelta(minutes=minutes - 1)
