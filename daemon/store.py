"""PostgreSQL, behind one module: the only one that imports asyncpg and trio-asyncio.

Every call crosses the trio-asyncio bridge once (a flush is one hop, not one per statement)
and is shielded from trio cancellation: cancelling asyncpg in the middle of a transaction
exit or a connection release can leak the connection, so a call always runs to its end,
bounded instead by asyncpg's own timeouts. Driver exceptions are translated here: connection
trouble becomes ``StoreUnavailable`` (retry), anything else ``StoreError``.
"""

from __future__ import annotations

import contextvars
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from contextlib import asynccontextmanager
from datetime import date, datetime
from functools import partial
from typing import Any, Final, ParamSpec, TypeVar

import asyncpg
import trio
import trio_asyncio
from asyncpg.pool import PoolConnectionProxy

from daemon import fleet, migrations
from daemon.coalesce import Added, FlushRows, ShardBatch
from daemon.errors import StoreError, StoreUnavailable
from daemon.partitions import COLD_TABLES, Partition, partitions_for
from daemon.readings import Reading
from daemon.views import LinkRecord, MeterStatus, Performance, VehicleStatus

log = logging.getLogger(__name__)

_P = ParamSpec("_P")
_T = TypeVar("_T")

_TRANSIENT: Final = (
    OSError,
    TimeoutError,
    asyncpg.PostgresConnectionError,  # class 08: connection exceptions
    asyncpg.exceptions.ConnectionDoesNotExistError,  # closed under us
    asyncpg.exceptions.OperatorInterventionError,  # class 57: shutdown, restart, cannot connect now
    asyncpg.exceptions.InsufficientResourcesError,  # class 53: too many connections, disk full
    asyncpg.exceptions.TransactionRollbackError,  # class 40: serialization failure, deadlock
    # A pooled connection cut by a server restart can be left mid-operation ("cannot switch to
    # state ..."); the pool discards it when its reset fails, so a retry gets a fresh one.
    asyncpg.exceptions.InternalClientError,
)
_MIGRATION_LOCK: Final = 0x1E1E_0001
_CLOSE_DEADLINE_S: Final = 5.0
_COMMAND_TIMEOUT_S: Final = 30.0
_CONNECT_TIMEOUT_S: Final = 10.0


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


def _pending(kind: str, arrays: dict[str, int], history: Callable[[int, str], str]) -> str:
    """A flush's history upsert and its pending rollup changes (sql/010): the arrays it stores,
    as one row of sign +1, and what the rows it replaced held, as one of sign -1, only when there
    were such rows. ``arrays`` are the kind's key, ts and summed columns, each with its array's
    parameter; the history's parameters start at the key's."""
    key, first = next(iter(arrays.items()))
    sums = list(arrays)[2:]
    # PostgreSQL 18's ``old``: the row as it was, even under a concurrent writer.
    held = "".join(f", old.{column} AS {column}" for column in sums)
    returning = f"RETURNING {key}, ts{held}, old.ts IS NOT NULL AS replaced"
    added = ", ".join(f"${n}" for n in arrays.values())
    replaced = ", ".join(f"array_agg({column})" for column in arrays)
    return f"""
{kind}_changes AS ({history(first, returning)}),
{kind}_added AS (
    INSERT INTO {kind}_pending SELECT {added}, 1 WHERE cardinality(${first}::text[]) > 0
),
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


_DAY_PARTITIONS: Final = """
SELECT c.relname AS name
FROM pg_inherits AS i
JOIN pg_class AS c ON c.oid = i.inhrelid
JOIN pg_class AS p ON p.oid = i.inhparent
WHERE p.relname = ANY($1::text[])
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
_FLUSH: Final = f"""
WITH {_pending("meter", _METER_ARRAYS, _meter_history)},
{_pending("vehicle", _VEHICLE_ARRAYS, _vehicle_history)},
meter_latest AS ({_meter_latest(10)}),
vehicle_latest AS ({_vehicle_latest(14)})
SELECT (SELECT count(*) FILTER (WHERE NOT replaced) FROM meter_changes)::int AS meters,
       (SELECT count(*) FILTER (WHERE NOT replaced) FROM vehicle_changes)::int AS vehicles
"""
# The fold (sql/009) takes a transaction-scoped advisory lock, which every writer of
# vehicle_efficiency holds; a link's change takes it here. Its key is named in sql/009 too.
FOLD_LOCK: Final = "fold_rollups"
_TAKE_LOCK: Final = f"SELECT pg_advisory_xact_lock(hashtext('{FOLD_LOCK}'))"
_REFRESH_EFFICIENCY: Final = "SELECT refresh_vehicle_efficiency($1, $2)"
_METER_HISTORY: Final = _meter_history(1)
_VEHICLE_HISTORY: Final = _vehicle_history(1)
_METER_LATEST: Final = _meter_latest(1)
_VEHICLE_LATEST: Final = _vehicle_latest(1)
# The window's whole UTC hours come from the hourly rollups and the changes not folded into
# them yet, and only its two partial hours from the history: about 50 rollup rows and 120
# readings for a day, where summing the history alone converts some 3,750 float8 values to
# numeric (about a microsecond each, most of the query). Numeric addition does not depend on its
# order, so the totals are the history's to the last digit, as the rollups' are (sql/005). One
# statement, one snapshot: a fold moves changes from pending to the rollups in one transaction,
# so each is counted once. Pending changes are read where they lie rather than folded first:
# an analytics read never waits for a fold.
_PERFORMANCE: Final = """
WITH whole AS (SELECT utc_hour($2) + interval '1 hour' AS first, utc_hour($3) AS last),
link AS (SELECT meter_id FROM vehicle_meter_links WHERE vehicle_id = $1),
v AS (
    SELECT sum(kwh) AS kwh, sum(temp) AS temp, sum(n) AS n FROM (
        SELECT dc_kwh, temp_sum, readings FROM vehicle_hourly, whole
        WHERE vehicle_id = $1 AND hour >= whole.first AND hour < whole.last
        UNION ALL
        SELECT dc_kwh, temp_sum, readings FROM vehicle_pending_changes, whole
        WHERE vehicle_id = $1 AND hour >= whole.first AND hour < whole.last
        UNION ALL
        SELECT kwh_delivered_dc::numeric, battery_temp::numeric, 1 FROM vehicle_readings, whole
        WHERE vehicle_id = $1
          AND ((ts > $2 AND ts < whole.first) OR (ts >= whole.last AND ts <= $3))
    ) AS parts (kwh, temp, n)
),
m AS (
    SELECT sum(kwh) AS kwh, sum(n) AS n FROM (
        SELECT h.ac_kwh, h.readings FROM meter_hourly AS h, whole, link
        WHERE h.meter_id = link.meter_id AND hour >= whole.first AND hour < whole.last
        UNION ALL
        SELECT c.ac_kwh, c.readings FROM meter_pending_changes AS c, whole, link
        WHERE c.meter_id = link.meter_id AND hour >= whole.first AND hour < whole.last
        UNION ALL
        SELECT r.kwh_consumed_ac::numeric, 1 FROM meter_readings AS r, whole, link
        WHERE r.meter_id = link.meter_id
          AND ((ts > $2 AND ts < whole.first) OR (ts >= whole.last AND ts <= $3))
    ) AS parts (kwh, n)
)
SELECT link.meter_id, coalesce(v.kwh, 0)::float8 AS dc_kwh,
       (v.temp / nullif(v.n, 0))::float8 AS temp, coalesce(v.n, 0)::int AS vehicle_n,
       coalesce(m.kwh, 0)::float8 AS ac_kwh, coalesce(m.n, 0)::int AS meter_n
FROM link, v, m
"""


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


async def _fetch(conn: PoolConnectionProxy, sql: str, args: tuple[Any, ...]) -> list[Any]:
    return await conn.fetch(sql, *args)


async def _fetchrow(conn: PoolConnectionProxy, sql: str, args: tuple[Any, ...]) -> Any:
    return await conn.fetchrow(sql, *args)


async def _page(
    conn: PoolConnectionProxy, query: fleet.ListQuery, sql: str, args: list[Any]
) -> dict[str, Any]:
    """A fleet list's page; the window and the total come with its rows, in one snapshot."""
    rows = await conn.fetch(sql, *args)
    if rows:
        start, total = rows[0]["window_start"], rows[0]["total"]
    else:
        start = await conn.fetchval("SELECT start FROM fleet_window")
        total = 0
        if query.after is not None:
            count, count_args = fleet.count_sql(query)
            total = await conn.fetchval(count, *count_args)
    page = [dict(row) for row in rows]
    return fleet.page_wire(query, page, fleet.FleetWindow(start), total)


async def _relink(conn: PoolConnectionProxy, sql: str, args: tuple[str, ...]) -> bool:
    """A link's change (``sql`` on ``args``, the vehicle first) and its vehicle's efficiency
    rewritten, under the fold's lock; whether the statement found its row."""
    async with conn.transaction():
        await conn.execute(_TAKE_LOCK)
        changed = await conn.fetchval(sql, *args)
        await conn.execute(_REFRESH_EFFICIENCY, [args[0]], None)
    return changed is True


async def _keep_session(conn: asyncpg.Connection) -> None:
    """A released connection goes back to the pool as it is, without asyncpg's reset query (a
    round trip per release, four statements for PostgreSQL): nothing here leaves session state
    behind. Locks are transaction-scoped, settings are a function's own, and there are no
    listeners, cursors or prepared statements of our own making. asyncpg still rolls back a
    transaction left open before it calls this."""


def _is_transient(error: BaseException) -> bool:
    """Connection trouble, even when it surfaces as another error: a connection cut in the
    middle of a transaction makes the transaction's exit raise ``InterfaceError`` ("the
    underlying connection is closed"), with the real cause left in ``__context__``."""
    seen: BaseException | None = error
    while seen is not None:
        if isinstance(seen, _TRANSIENT):
            return True
        seen = seen.__cause__ or seen.__context__
    return False


class Store:
    """A pool of connections to one database, used from trio."""

    def __init__(self, pool: asyncpg.Pool, loop: Any) -> None:
        self._pool = pool
        self._loop = loop
        self._context = contextvars.copy_context()
        """Made where the store is opened: the loop bridge's, with no request in it."""
        self._partitions: set[Partition] = set()

    async def _call(
        self, fn: Callable[_P, Awaitable[_T]], *args: _P.args, **kwargs: _P.kwargs
    ) -> _T:
        try:
            with trio.CancelScope(shield=True):
                # In the store's own context, not the caller's: asyncpg's timers (a command
                # timeout per query) copy the context they are made in, and the loop keeps a
                # cancelled timer until it would have fired. In a request's context that kept
                # the whole request alive for the timeout, and full garbage collections over
                # those requests stalled reads (p99 120 to 420 ms at 4 connections; 17 to 57
                # ms since).
                task = self._loop.create_task(fn(*args, **kwargs), context=self._context.copy())
                result: _T = await trio_asyncio.run_aio_future(task)
        except (*_TRANSIENT, asyncpg.PostgresError, asyncpg.InterfaceError) as error:
            kind = StoreUnavailable if _is_transient(error) else StoreError
            raise kind(f"{type(error).__name__}: {error}") from error
        return result

    # --- schema ---------------------------------------------------------------------------

    async def migrate(self, pending: list[migrations.Migration]) -> list[int]:
        """Apply what this database lacks, each file in its own transaction; several processes
        may start at once, so each takes an advisory lock and checks again under it."""
        return await self._call(self._migrate, pending)

    async def _migrate(self, pending: list[migrations.Migration]) -> list[int]:
        applied: list[int] = []
        async with self._pool.acquire() as conn:
            for migration in pending:
                async with conn.transaction():
                    await conn.execute("SELECT pg_advisory_xact_lock($1)", _MIGRATION_LOCK)
                    if await conn.fetchval(
                        "SELECT to_regclass('schema_migrations') IS NOT NULL"
                    ) and await conn.fetchval(
                        "SELECT EXISTS (SELECT FROM schema_migrations WHERE version = $1)",
                        migration.version,
                    ):
                        continue
                    await conn.execute(migration.sql)
                    await conn.execute(
                        "INSERT INTO schema_migrations (version, name) VALUES ($1, $2)",
                        migration.version,
                        migration.name,
                    )
                    applied.append(migration.version)
        return applied

    async def ensure_partitions(self, days: Iterable[date]) -> int:
        """Create missing day partitions; returns how many were new to this process."""
        missing = [p for p in partitions_for(days) if p not in self._partitions]
        if missing:
            await self._call(self._ensure_partitions, missing)
            self._partitions.update(missing)
        return len(missing)

    async def day_partitions(self) -> list[Partition]:
        """Every day partition of the cold tables, as the catalogue has them."""
        rows = await self._call(self._pool.fetch, _DAY_PARTITIONS, list(COLD_TABLES))
        return [p for row in rows if (p := Partition.named(row["name"])) is not None]

    async def drop_partitions(self, expired: list[Partition]) -> None:
        """Drop day partitions, one transaction each (a partition's drop locks its parent
        table, so each holds the writers up as briefly as it can)."""
        await self._call(self._drop_partitions, expired)
        self._partitions.difference_update(expired)

    async def _drop_partitions(self, expired: list[Partition]) -> None:
        async with self._pool.acquire() as conn:
            for partition in expired:
                await conn.execute(
                    "SELECT drop_day_partition($1, $2)", partition.table, partition.day
                )

    async def prune_rollups(self, before: datetime) -> int:
        """Delete the hourly rollups of hours before ``before``, as history is: how many."""
        deleted: int = await self._call(self._pool.fetchval, _PRUNE_ROLLUPS, before)
        return deleted

    async def _ensure_partitions(self, missing: list[Partition]) -> None:
        async with self._pool.acquire() as conn:
            for partition in missing:
                async with conn.transaction():
                    await conn.execute(
                        "SELECT ensure_day_partition($1, $2)", partition.table, partition.day
                    )

    # --- writes ---------------------------------------------------------------------------

    async def write(self, rows: FlushRows) -> Added:
        """History, rollup changes and latest state of one flush, in ONE transaction: all or
        none."""
        return await self._call(self._write, rows)

    async def _write(self, rows: FlushRows) -> Added:
        mh, vh = rows.meter_history, rows.vehicle_history
        ml, vl = rows.meter_latest, rows.vehicle_latest
        added = await self._pool.fetchrow(
            _FLUSH,
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
        taken = await self._call(self._pool.fetchval, "SELECT fold_rollups(false)")
        return int(taken)

    async def _on_connection(self, work: Callable[[PoolConnectionProxy], Awaitable[_T]]) -> _T:
        async with self._pool.acquire() as conn:
            return await work(conn)

    async def _folded(self, read: Callable[[PoolConnectionProxy], Awaitable[_T]]) -> _T:
        """``read``, after a fold of every change committed before it: the fleet reads read the
        folded tables alone (sql/009), which are then exact as of a moment of the request."""

        async def fold_then_read(conn: PoolConnectionProxy) -> _T:
            await conn.execute("SELECT fold_rollups(true)")
            return await read(conn)

        return await self._call(self._on_connection, fold_then_read)

    async def roll_fleet_window(self, start: datetime) -> bool:
        """Move the fleet's 24-hour window on to ``[start, start + 24 h)``, and every
        vehicle's efficiency with it (sql/005, sql/009); False when it is there already."""
        rolled = await self._call(self._pool.fetchval, "SELECT roll_fleet_window($1)", start)
        return rolled is True

    async def write_each(self, readings: Iterable[Reading]) -> None:
        """The original service's way, kept only as the benchmark's baseline: per reading one
        INSERT and one guarded UPSERT, each its own implicit transaction, nothing batched."""
        await self._call(self._write_each, readings)

    async def _write_each(self, readings: Iterable[Reading]) -> None:
        async with self._pool.acquire() as conn:
            for reading in readings:
                batch = ShardBatch()
                batch.add(reading)
                await _execute(conn, batch.rows())

    async def put_link(self, vehicle_id: str, meter_id: str) -> None:
        await self._call(
            self._on_connection,
            partial(
                _relink,
                sql="INSERT INTO vehicle_meter_links (vehicle_id, meter_id, linked_at)"
                " VALUES ($1, $2, now())"
                " ON CONFLICT (vehicle_id) DO UPDATE"
                " SET meter_id = EXCLUDED.meter_id, linked_at = EXCLUDED.linked_at"
                " RETURNING true",
                args=(vehicle_id, meter_id),
            ),
        )

    async def delete_link(self, vehicle_id: str) -> bool:
        return await self._call(
            self._on_connection,
            partial(
                _relink,
                sql="DELETE FROM vehicle_meter_links WHERE vehicle_id = $1 RETURNING true",
                args=(vehicle_id,),
            ),
        )

    # --- reads ----------------------------------------------------------------------------

    async def ping(self) -> None:
        await self._call(self._pool.fetchval, "SELECT 1")

    async def _one(self, record: Callable[..., _T], sql: str, key: str) -> _T | None:
        """The row for ``key`` as a ``record``, or None when there is none."""
        row = await self._call(self._pool.fetchrow, sql, key)
        return None if row is None else record(**row)

    async def get_link(self, vehicle_id: str) -> LinkRecord | None:
        return await self._one(
            LinkRecord,
            "SELECT vehicle_id, meter_id, linked_at FROM vehicle_meter_links WHERE vehicle_id = $1",
            vehicle_id,
        )

    async def meter_status(self, meter_id: str) -> MeterStatus | None:
        return await self._one(
            MeterStatus,
            "SELECT meter_id, kwh_consumed_ac, voltage, ts, updated_at"
            " FROM meter_latest WHERE meter_id = $1",
            meter_id,
        )

    async def vehicle_status(self, vehicle_id: str) -> VehicleStatus | None:
        return await self._one(
            VehicleStatus,
            "SELECT vehicle_id, soc, kwh_delivered_dc, battery_temp, ts, updated_at"
            " FROM vehicle_latest WHERE vehicle_id = $1",
            vehicle_id,
        )

    async def fleet_summary(self) -> dict[str, Any]:
        row = await self._folded(partial(_fetchrow, sql=fleet.SUMMARY_SQL, args=()))
        assert row is not None  # aggregates without GROUP BY have their one row
        return dict(row)

    async def fleet_list(self, query: fleet.ListQuery) -> dict[str, Any]:
        sql, args = fleet.list_sql(query)
        return await self._folded(partial(_page, query=query, sql=sql, args=args))

    async def hourly(self, vehicle_id: str, first: datetime, last: datetime) -> fleet.Hourly | None:
        """Hour by hour from ``first`` to ``last`` (hour starts), or None without a link."""
        rows = await self._folded(
            partial(_fetch, sql=fleet.HOURLY_SQL, args=(vehicle_id, first, last))
        )
        return fleet.hourly_of(vehicle_id, [dict(row) for row in rows])

    async def performance(
        self, vehicle_id: str, start: datetime, end: datetime
    ) -> Performance | None:
        """Totals over ``(start, end]``, or None without a link."""
        row = await self._call(self._pool.fetchrow, _PERFORMANCE, vehicle_id, start, end)
        if row is None:
            return None
        return Performance(
            vehicle_id=vehicle_id,
            meter_id=row["meter_id"],
            window_start=start,
            window_end=end,
            ac_kwh=row["ac_kwh"],
            dc_kwh=row["dc_kwh"],
            avg_battery_temp=row["temp"],
            vehicle_readings=row["vehicle_n"],
            meter_readings=row["meter_n"],
        )


@asynccontextmanager
async def open_store(dsn: str, *, pooler: bool, max_connections: int) -> AsyncIterator[Store]:
    """Open the loop bridge and a pool, apply pending migrations, and close both on the way
    out, shielded and within a deadline (``Pool.close`` can otherwise wait forever)."""
    async with trio_asyncio.open_loop() as loop:
        try:
            pool = await trio_asyncio.aio_as_trio(asyncpg.create_pool, loop=loop)(
                dsn,
                min_size=1,
                max_size=max_connections,
                # PgBouncer in transaction mode cannot keep prepared statements.
                statement_cache_size=0 if pooler else 256,
                command_timeout=_COMMAND_TIMEOUT_S,
                # No timer per release (cancelled at the next acquire, then kept by the loop
                # for 5 minutes); the pool is small, so idle connections cost little.
                max_inactive_connection_lifetime=0,
                reset=_keep_session,
                timeout=_CONNECT_TIMEOUT_S,
                server_settings={"application_name": "ingestd"},
            )
        except _TRANSIENT as error:
            raise StoreUnavailable(f"cannot connect to PostgreSQL: {error}") from error
        store = Store(pool, loop)
        try:
            applied = await store.migrate(migrations.load())
            log.info("schema up to date", extra={"applied_migrations": applied})
            yield store
        finally:
            with trio.CancelScope(shield=True):
                with trio.move_on_after(_CLOSE_DEADLINE_S) as closing:
                    await trio_asyncio.aio_as_trio(pool.close, loop=loop)()
                if closing.cancelled_caught:
                    log.warning("pool did not close in time; terminating its connections")
                    pool.terminate()
