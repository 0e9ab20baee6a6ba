"""The store's write side: a flush (history, the rollups' pending changes and latest state in
one statement), the rollups' fold and window, links, and the benchmark's per-reading baseline.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import datetime
from functools import partial
from typing import Final

from asyncpg.pool import PoolConnectionProxy

from daemon.ingest.batch import Added, FlushRows, ShardBatch
from daemon.readings import Reading
from daemon.store.bridge import Bridge


def _unnest(first: int, *types: str) -> str:
    """``unnest($first::type[], ...)``: one array parameter per column, numbered from ``first``."""
    return "unnest(" + ", ".join(f"${first + n}::{t}[]" for n, t in enumerate(types)) + ")"


def _meter_history(first: int, returning: str = "") -> str:
    return f"""
INSERT INTO meter_readings AS r (meter_id, ts, kwh_consumed_ac, voltage, received_at)
SELECT u.*, now() FROM {_unnest(first, "text", "timestamptz", "float8", "float8")} AS u
ON CONFLICT (meter_id, ts) DO UPDATE
SET kwh_consumed_ac = EXCLUDED.kwh_consumed_ac, voltage = EXCLUDED.voltage,
    received_at = EXCLUDED.received_at
{returning}"""


def _vehicle_history(first: int, returning: str = "") -> str:
    return f"""
INSERT INTO vehicle_readings AS r
    (vehicle_id, ts, soc, kwh_delivered_dc, battery_temp, received_at)
SELECT u.*, now() FROM {_unnest(first, "text", "timestamptz", "float8", "float8", "float8")} AS u
ON CONFLICT (vehicle_id, ts) DO UPDATE
SET soc = EXCLUDED.soc, kwh_delivered_dc = EXCLUDED.kwh_delivered_dc,
    battery_temp = EXCLUDED.battery_temp, received_at = EXCLUDED.received_at
{returning}"""


def _pending(
    kind: str, arrays: dict[str, int], history: Callable[[int, str], str], *, returning_old: bool
) -> str:
    """A flush's history upsert and its pending rollup changes (sql/010): the arrays it stores,
    as one row of sign +1, and what the rows it replaced held, as one of sign -1, only when there
    were such rows. ``arrays`` are the kind's key, ts and summed columns, each with its array's
    parameter; the history's parameters start at the key's. Without ``returning_old`` (before
    PostgreSQL 18) a trigger appends what replaced rows held instead (sql/012)."""
    key, first = next(iter(arrays.items()))
    added = ", ".join(f"${n}" for n in arrays.values())
    changes_added = f"""
{kind}_added AS (
    INSERT INTO {kind}_pending SELECT {added}, 1 WHERE cardinality(${first}::text[]) > 0
)"""
    if not returning_old:
        return f"{kind}_changes AS ({history(first, f'RETURNING {key}')}),{changes_added}"
    sums = list(arrays)[2:]
    # PostgreSQL 18's ``old``: the row as it was, even under a concurrent writer.
    held = "".join(f", old.{column} AS {column}" for column in sums)
    returning = f"RETURNING {key}, ts{held}, old.ts IS NOT NULL AS replaced"
    replaced = ", ".join(f"array_agg({column})" for column in arrays)
    return f"""
{kind}_changes AS ({history(first, returning)}),{changes_added},
{kind}_replaced AS (
    INSERT INTO {kind}_pending
    SELECT {replaced}, -1 FROM {kind}_changes WHERE replaced HAVING count(*) > 0
)"""


def _meter_latest(first: int) -> str:
    return f"""
INSERT INTO meter_latest AS l (meter_id, ts, kwh_consumed_ac, voltage, updated_at)
SELECT u.*, now() FROM {_unnest(first, "text", "timestamptz", "float8", "float8")} AS u
ON CONFLICT (meter_id) DO UPDATE
SET ts = EXCLUDED.ts, kwh_consumed_ac = EXCLUDED.kwh_consumed_ac, voltage = EXCLUDED.voltage,
    updated_at = EXCLUDED.updated_at
WHERE EXCLUDED.ts >= l.ts
"""


def _vehicle_latest(first: int) -> str:
    return f"""
INSERT INTO vehicle_latest AS l
    (vehicle_id, ts, soc, kwh_delivered_dc, battery_temp, updated_at)
SELECT u.*, now() FROM {_unnest(first, "text", "timestamptz", "float8", "float8", "float8")} AS u
ON CONFLICT (vehicle_id) DO UPDATE
SET ts = EXCLUDED.ts, soc = EXCLUDED.soc, kwh_delivered_dc = EXCLUDED.kwh_delivered_dc,
    battery_temp = EXCLUDED.battery_temp, updated_at = EXCLUDED.updated_at
WHERE EXCLUDED.ts >= l.ts
"""


_PRUNE_ROLLUPS: Final = """
WITH meters AS (DELETE FROM meter_hourly WHERE hour < $1 RETURNING 1),
     vehicles AS (DELETE FROM vehicle_hourly WHERE hour < $1 RETURNING 1)
SELECT (SELECT count(*) FROM meters) + (SELECT count(*) FROM vehicles)
"""

# A flush is ONE statement, its parts as data-modifying CTEs: history, the rollups' pending
# changes and latest state commit together (a statement is atomic) in one round trip, with no
# BEGIN and COMMIT around it. Empty columns unnest to no rows. The rows arrive sorted by key,
# so that concurrent flushes lock rows in one order. The result is how many history rows each
# kind added; the other rows replaced stored ones.
_METER_ARRAYS: Final = {"meter_id": 1, "ts": 2, "kwh_consumed_ac": 3}
_VEHICLE_ARRAYS: Final = {"vehicle_id": 5, "ts": 6, "kwh_delivered_dc": 8, "battery_temp": 9}


def _added(kind: str, *, returning_old: bool) -> str:
    """How many history rows of ``kind`` the flush added rather than replaced."""
    if returning_old:
        return f"(SELECT count(*) FILTER (WHERE NOT replaced) FROM {kind}_changes)::int"
    # Read after the count, which runs the upsert and so the trigger that counts (sql/012).
    return f"(SELECT count(*) FROM {kind}_changes)::int - replaced_count('{kind}')"


def _flush(*, returning_old: bool) -> str:
    return f"""
WITH {_pending("meter", _METER_ARRAYS, _meter_history, returning_old=returning_old)},
{_pending("vehicle", _VEHICLE_ARRAYS, _vehicle_history, returning_old=returning_old)},
meter_latest AS ({_meter_latest(10)}),
vehicle_latest AS ({_vehicle_latest(14)})
SELECT {_added("meter", returning_old=returning_old)} AS meters,
       {_added("vehicle", returning_old=returning_old)} AS vehicles
"""


_FLUSH: Final = {old: _flush(returning_old=old) for old in (True, False)}
"""The flush statement, by whether the server has ``RETURNING old`` (PostgreSQL 18)."""
# The fold (sql/009) takes a transaction-scoped advisory lock, which every writer of
# vehicle_efficiency holds; a link's change takes it here. Its key is named in sql/009 too.
FOLD_LOCK: Final = "fold_rollups"
_TAKE_LOCK: Final = f"SELECT pg_advisory_xact_lock(hashtext('{FOLD_LOCK}'))"
_REFRESH_EFFICIENCY: Final = "SELECT refresh_vehicle_efficiency($1, $2)"
_METER_HISTORY: Final = _meter_history(1)
_VEHICLE_HISTORY: Final = _vehicle_history(1)
_METER_LATEST: Final = _meter_latest(1)
_VEHICLE_LATEST: Final = _vehicle_latest(1)


async def _execute(conn: PoolConnectionProxy, rows: FlushRows) -> None:
    """History first, then latest state; empty columns send no statement."""
    mh, vh = rows.meter_history, rows.vehicle_history
    ml, vl = rows.meter_latest, rows.vehicle_latest
    if mh.ts:
        await conn.execute(_METER_HISTORY, mh.meter_ids, mh.ts, mh.kwh_consumed_ac, mh.voltage)
    if vh.ts:
        await conn.execute(
            _VEHICLE_HISTORY, vh.vehicle_ids, vh.ts, vh.soc, vh.kwh_delivered_dc, vh.battery_temp
        )
    if ml.ts:
        await conn.execute(_METER_LATEST, ml.meter_ids, ml.ts, ml.kwh_consumed_ac, ml.voltage)
    if vl.ts:
        await conn.execute(
            _VEHICLE_LATEST, vl.vehicle_ids, vl.ts, vl.soc, vl.kwh_delivered_dc, vl.battery_temp
        )


async def _relink(conn: PoolConnectionProxy, sql: str, args: tuple[str, ...]) -> bool:
    """A link's change (``sql`` on ``args``, the vehicle first) and its vehicle's efficiency
    rewritten, under the fold's lock; whether the statement found its row."""
    async with conn.transaction():
        await conn.execute(_TAKE_LOCK)
        changed = await conn.fetchval(sql, *args)
        await conn.execute(_REFRESH_EFFICIENCY, [args[0]], None)
    return changed is True


class WriteSide:
    """What the shard writers, the upkeep timers and the links' routes write."""

    _bridge: Bridge
    _returning_old: bool
    """Whether the server hands back a replaced row's values (PostgreSQL 18)."""

    async def write(self, rows: FlushRows) -> Added:
        """History, rollup changes and latest state of one flush, in ONE transaction: all or
        none."""
        return await self._bridge.call(self._write, rows)

    async def _write(self, rows: FlushRows) -> Added:
        mh, vh = rows.meter_history, rows.vehicle_history
        ml, vl = rows.meter_latest, rows.vehicle_latest
        added = await self._bridge.pool.fetchrow(
            _FLUSH[self._returning_old],
            *(mh.meter_ids, mh.ts, mh.kwh_consumed_ac, mh.voltage),
            *(vh.vehicle_ids, vh.ts, vh.soc, vh.kwh_delivered_dc, vh.battery_temp),
            *(ml.meter_ids, ml.ts, ml.kwh_consumed_ac, ml.voltage),
            *(vl.vehicle_ids, vl.ts, vl.soc, vl.kwh_delivered_dc, vl.battery_temp),
        )
        assert added is not None  # a SELECT without FROM has its one row
        return Added(meters=added["meters"], vehicles=added["vehicles"])

    async def fold_rollups(self) -> int:
        """Move pending rollup changes into the rollups, unless another fold is doing it
        (sql/009); returns how many it took."""
        taken = await self._bridge.call(self._bridge.pool.fetchval, "SELECT fold_rollups(false)")
        return int(taken)

    async def roll_fleet_window(self, start: datetime) -> bool:
        """Move the fleet's 24-hour window on to ``[start, start + 24 h)``, and every
        vehicle's efficiency with it (sql/005, sql/009); False when it is there already."""
        rolled = await self._bridge.call(
            self._bridge.pool.fetchval, "SELECT roll_fleet_window($1)", start
        )
        return rolled is True

    async def prune_rollups(self, before: datetime) -> int:
        """Delete the hourly rollups of hours before ``before``, as history is: how many."""
        deleted: int = await self._bridge.call(self._bridge.pool.fetchval, _PRUNE_ROLLUPS, before)
        return deleted

    async def write_each(self, readings: Iterable[Reading]) -> None:
        """The original service's way, kept only as the benchmark's baseline: per reading one
        INSERT and one guarded UPSERT, each its own implicit transaction, nothing batched."""
        await self._bridge.call(self._write_each, readings)

    async def _write_each(self, readings: Iterable[Reading]) -> None:
        async with self._bridge.pool.acquire() as conn:
            for reading in readings:
                batch = ShardBatch()
                batch.add(reading)
                await _execute(conn, batch.rows())

    async def put_link(self, vehicle_id: str, meter_id: str) -> None:
        await self._relink(
            "INSERT INTO vehicle_meter_links (vehicle_id, meter_id, linked_at)"
            " VALUES ($1, $2, now())"
            " ON CONFLICT (vehicle_id) DO UPDATE"
            " SET meter_id = EXCLUDED.meter_id, linked_at = EXCLUDED.linked_at"
            " RETURNING true",
            (vehicle_id, meter_id),
        )

    async def delete_link(self, vehicle_id: str) -> bool:
        return await self._relink(
            "DELETE FROM vehicle_meter_links WHERE vehicle_id = $1 RETURNING true", (vehicle_id,)
        )

    async def _relink(self, sql: str, args: tuple[str, ...]) -> bool:
        return await self._bridge.call(
            self._bridge.on_connection, partial(_relink, sql=sql, args=args)
        )
