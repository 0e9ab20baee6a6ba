"""The database's own ceiling on this schema: how many readings per second PostgreSQL takes
when nothing but the rows stand between it and the client.

Each from ``concurrency`` connections at once, in batches of the writers' size, of the same
readings (distinct devices and timestamps, meters and vehicles alike):
- the writers' statement: ``Store.write`` itself, the engine's flush (history and latest
  state in one statement, ``INSERT ... SELECT FROM unnest(...) ON CONFLICT``), through the
  same loop bridge;
- COPY into staging tables, then the same work from there: the alternative for the writers;
- COPY of the history rows alone (no dedupe, no latest state): the fastest way in at all.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import asyncpg
import trio

from daemon.ingest.batch import FlushRows, ShardBatch
from daemon.partitions import days_of
from daemon.readings import MeterReading, Reading, VehicleReading
from daemon.store.database import open_store

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


async def _copy_history(
    conn: asyncpg.Connection, batch: FlushRows, meter_table: str, vehicle_table: str
) -> None:
    m, v = batch.meter_history, batch.vehicle_history
    received = [datetime.now(UTC)] * max(len(m.ts), len(v.ts))
    await conn.copy_records_to_table(
        meter_table,
        records=zip(m.meter_ids, m.ts, m.kwh_consumed_ac, m.voltage, received, strict=False),
    )
    await conn.copy_records_to_table(
        vehicle_table,
        records=zip(
            v.vehicle_ids, v.ts, v.soc, v.kwh_delivered_dc, v.battery_temp, received, strict=False
        ),
    )


# The alternative to the writers' unnest statement: COPY into staging tables, then the same
# dedupe and guard from there, history and latest state in one transaction.
_STAGING = """
CREATE TEMP TABLE IF NOT EXISTS stage_m (LIKE meter_readings) ON COMMIT DELETE ROWS;
CREATE TEMP TABLE IF NOT EXISTS stage_v (LIKE vehicle_readings) ON COMMIT DELETE ROWS;
"""
_FROM_STAGING = """
INSERT INTO meter_readings SELECT * FROM stage_m ON CONFLICT (meter_id, ts) DO UPDATE
SET kwh_consumed_ac = EXCLUDED.kwh_consumed_ac, voltage = EXCLUDED.voltage,
    received_at = EXCLUDED.received_at;
INSERT INTO vehicle_readings SELECT * FROM stage_v ON CONFLICT (vehicle_id, ts) DO UPDATE
SET soc = EXCLUDED.soc, kwh_delivered_dc = EXCLUDED.kwh_delivered_dc,
    battery_temp = EXCLUDED.battery_temp, received_at = EXCLUDED.received_at;
INSERT INTO meter_latest AS l
SELECT DISTINCT ON (meter_id) meter_id, ts, kwh_consumed_ac, voltage, received_at FROM stage_m
ORDER BY meter_id, ts DESC
ON CONFLICT (meter_id) DO UPDATE
SET ts = EXCLUDED.ts, kwh_consumed_ac = EXCLUDED.kwh_consumed_ac, voltage = EXCLUDED.voltage,
    updated_at = EXCLUDED.updated_at
WHERE EXCLUDED.ts >= l.ts;
INSERT INTO vehicle_latest AS l
SELECT DISTINCT ON (vehicle_id) vehicle_id, ts, soc, kwh_delivered_dc, battery_temp, received_at
FROM stage_v ORDER BY vehicle_id, ts DESC
ON CONFLICT (vehicle_id) DO UPDATE
SET ts = EXCLUDED.ts, soc = EXCLUDED.soc, kwh_delivered_dc = EXCLUDED.kwh_delivered_dc,
    battery_temp = EXCLUDED.battery_temp, updated_at = EXCLUDED.updated_at
WHERE EXCLUDED.ts >= l.ts;
"""


async def _plain_copy(conn: asyncpg.Connection, batch: FlushRows) -> None:
    await _copy_history(conn, batch, "meter_readings", "vehicle_readings")


async def _staged_copy(conn: asyncpg.Connection, batch: FlushRows) -> None:
    async with conn.transaction():
        await conn.execute(_STAGING)
        await _copy_history(conn, batch, "stage_m", "stage_v")
        await conn.execute(_FROM_STAGING)


def _with_asyncpg(
    write: Callable[[asyncpg.Connection, FlushRows], Awaitable[None]],
) -> Callable[[str, list[FlushRows], int], CeilingResult]:
    def measure_all(dsn: str, rows: list[FlushRows], concurrency: int) -> CeilingResult:
        async def measure() -> float:
            conns = [await asyncpg.connect(dsn) for _ in range(concurrency)]
            try:
                pending = list(rows)

                async def writer(conn: asyncpg.Connection) -> None:
                    while pending:
                        await write(conn, pending.pop())

                started = time.perf_counter()
                await asyncio.gather(*(writer(conn) for conn in conns))
                return time.perf_counter() - started
            finally:
                for conn in conns:
                    await conn.close()

        return CeilingResult(_count(rows), asyncio.run(measure()))

    return measure_all


copy = _with_asyncpg(_plain_copy)
"""COPY of the history rows alone: no dedupe, no latest state; the fastest way in at all."""
staged_copy = _with_asyncpg(_staged_copy)
"""COPY into staging tables, then history and latest state from there: the alternative the
writers could use instead of their unnest statement."""
