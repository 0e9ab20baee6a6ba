"""The store's read side: latest state, links, analytics and the fleet views, as records and rows
(the HTTP layer shapes them for the wire).

The fleet reads fold pending rollup changes first and then read the folded tables alone
(sql/009), so they are exact as of a moment of the request; an analytics read adds pending
changes in where they lie instead, and never waits for a fold.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from datetime import datetime
from functools import partial
from typing import Any, TypeVar

from asyncpg.pool import PoolConnectionProxy

from daemon.reads import analytics, fleet
from daemon.reads.analytics import Hourly, Performance
from daemon.reads.records import LinkRecord, MeterStatus, VehicleStatus
from daemon.reads.window import FleetWindow
from daemon.store.bridge import Bridge

_T = TypeVar("_T")


async def _fetch(conn: PoolConnectionProxy, sql: str, args: tuple[Any, ...]) -> list[Any]:
    return await conn.fetch(sql, *args)


async def _fetchrow(conn: PoolConnectionProxy, sql: str, args: tuple[Any, ...]) -> Any:
    return await conn.fetchrow(sql, *args)


async def _page(
    conn: PoolConnectionProxy, query: fleet.ListQuery, sql: str, args: list[Any]
) -> fleet.Page:
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
    return fleet.Page(query, [dict(row) for row in rows], FleetWindow(start), total)


class ReadSide:
    """What the HTTP front reads, and readiness's ping."""

    _bridge: Bridge

    async def ping(self) -> None:
        await self._bridge.call(self._bridge.pool.fetchval, "SELECT 1")

    async def _one(self, record: Callable[..., _T], sql: str, key: str) -> _T | None:
        """The row for ``key`` as a ``record``, or None when there is none."""
        row = await self._bridge.call(self._bridge.pool.fetchrow, sql, key)
        return None if row is None else record(**row)

    async def _folded(self, read: Callable[[PoolConnectionProxy], Awaitable[_T]]) -> _T:
        """``read``, after a fold of every change committed before it."""

        async def fold_then_read(conn: PoolConnectionProxy) -> _T:
            await conn.execute("SELECT fold_rollups(true)")
            return await read(conn)

        return await self._bridge.call(self._bridge.on_connection, fold_then_read)

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

    async def fleet_summary(self) -> Mapping[str, Any]:
        """The summary's one row (``fleet.SUMMARY_SQL``)."""
        row = await self._folded(partial(_fetchrow, sql=fleet.SUMMARY_SQL, args=()))
        assert row is not None  # aggregates without GROUP BY have their one row
        return dict(row)

    async def fleet_list(self, query: fleet.ListQuery) -> fleet.Page:
        sql, args = fleet.list_sql(query)
        return await self._folded(partial(_page, query=query, sql=sql, args=args))

    async def hourly(self, vehicle_id: str, first: datetime, last: datetime) -> Hourly | None:
        """Hour by hour from ``first`` to ``last`` (hour starts), or None without a link."""
        rows = await self._folded(
            partial(_fetch, sql=analytics.HOURLY_SQL, args=(vehicle_id, first, last))
        )
        return analytics.hourly_of(vehicle_id, [dict(row) for row in rows])

    async def performance(
        self, vehicle_id: str, start: datetime, end: datetime
    ) -> Performance | None:
        """Totals over ``(start, end]``, or None without a link."""
        row = await self._bridge.call(
            self._bridge.pool.fetchrow, analytics.PERFORMANCE_SQL, vehicle_id, start, end
        )
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
