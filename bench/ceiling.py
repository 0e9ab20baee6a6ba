"""The database's own ceiling on this schema: how many readings per second PostgreSQL takes
when nothing but the rows stand between it and the client.

Two statements, each from ``concurrency`` connections at once, in batches of the writers'
size, of the same readings (distinct devices and timestamps, meters and vehicles alike):
- the writers' statement: ``Store.write`` itself, the engine's flush (history and latest
  state in one transaction, ``INSERT ... SELECT FROM unnest(...) ON CONFLICT``), through the
  same loop bridge;
- COPY of the history rows alone (no dedupe, no latest state): the fastest way in at all.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import asyncpg
import trio

from daemon.coalesce import FlushRows, ShardBatch
from daemon.partitions import days_of
from daemon.readings import MeterReading, Reading, VehicleReading
from daemon.store import open_store

_DEVICES = 10_000


@dataclass(frozen=True)
class CeilingResult:
    readings: int
    seconds: float

    @property
    def per_second(self) -> float:
        return self.readings / self.seconds


def batches(readings: int, batch: int, *, tag: str) -> list[FlushRows]:
    """Readings of the last minutes, distinct per (device, timestamp), in flush-sized batches,
    coalesced exactly as a writer does."""
    now = datetime.now(UTC).replace(microsecond=0)
    out: list[FlushRows] = []
    for start in range(0, readings, batch):
        held = ShardBatch()
        for n in range(start, min(start + batch, readings)):
            held.add(_reading(n, now, tag))
        out.append(held.rows())
    return out


def _reading(n: int, now: datetime, tag: str) -> Reading:
    ts = now - timedelta(seconds=60) + timedelta(microseconds=n)
    device = f"ceil-{tag}-{n % _DEVICES}"
    if n % 2:
        return MeterReading(device, ts, 0.5, 230.0)
    return VehicleReading(device, ts, 50.0, 0.45, 30.0)


def _count(rows: Sequence[FlushRows]) -> int:
    return sum(len(r.meter_history.ts) + len(r.vehicle_history.ts) for r in rows)


def writers_statement(dsn: str, rows: list[FlushRows], concurrency: int) -> CeilingResult:
    async def measure() -> float:
        async with open_store(dsn, pooler=False, max_connections=concurrency) as store:
            days = set().union(*(days_of(r.meter_history.ts + r.vehicle_history.ts) for r in rows))
            await store.ensure_partitions(days)
            pending = list(rows)

            async def writer() -> None:
                while pending:
                    await store.write(pending.pop())

            started = time.perf_counter()
            async with trio.open_nursery() as nursery:
                for _ in range(concurrency):
                    nursery.start_soon(writer)
            return time.perf_counter() - started

    return CeilingResult(_count(rows), trio.run(measure))


def copy(dsn: str, rows: list[FlushRows], concurrency: int) -> CeilingResult:
    async def measure() -> float:
        pool = await asyncpg.create_pool(dsn, min_size=concurrency, max_size=concurrency)
        try:
            pending = list(rows)

            async def writer() -> None:
                async with pool.acquire() as conn:
                    while pending:
                        batch = pending.pop()
                        m, v = batch.meter_history, batch.vehicle_history
                        received = datetime.now(UTC)
                        await conn.copy_records_to_table(
                            "meter_readings",
                            records=zip(
                                m.meter_ids,
                                m.ts,
                                m.kwh_consumed_ac,
                                m.voltage,
                                [received] * len(m.ts),
                                strict=True,
                            ),
                        )
                        await conn.copy_records_to_table(
                            "vehicle_readings",
                            records=zip(
                                v.vehicle_ids,
                                v.ts,
                                v.soc,
                                v.kwh_delivered_dc,
                                v.battery_temp,
                                [received] * len(v.ts),
                                strict=True,
                            ),
                        )

            started = time.perf_counter()
            await asyncio.gather(*(writer() for _ in range(concurrency)))
            return time.perf_counter() - started
        finally:
            await pool.close()

    return CeilingResult(_count(rows), asyncio.run(measure()))
