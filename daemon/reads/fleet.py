"""The fleet views (docs/api.md, "Fleet views"): their query parameters, cursors and SQL, and the
page a list answers with.

Synchronous and free of I/O: the store runs what this builds, after folding the pending rollup
changes. The lists read the views of sql/009 (one row per device, its latest state and its
24-hour sums from the folded rollups, a vehicle's efficiency kept and indexed), so a page never
aggregates hours or history. Pages are keyset pages: the cursor holds the last row's sort key,
so a page deep in the list costs little more than the first one, and rows inserted meanwhile
shift nothing.
"""

from __future__ import annotations

import base64
import binascii
import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final

from daemon.errors import InvalidInput, Problem
from daemon.reads.window import FleetWindow

_LIMIT_DEFAULT: Final = 100
_LIMIT_MAX: Final = 500
_Q_MAX: Final = 64


@dataclass(frozen=True, slots=True)
class Kind:
    """One list: its view, its id column, and the sort keys it offers (wire name to column)."""

    view: str
    key: str
    alerts: str
    """The SQL that lists a row's alerts (sql/005)."""
    sorts: Mapping[str, str]
    nullable: frozenset[str] = frozenset()


VEHICLES: Final = Kind(
    "fleet_vehicles",
    "vehicle_id",
    "vehicle_alerts(last_seen, efficiency, battery_temp)",
    {
        "id": "vehicle_id",
        "soc": "soc",
        "batteryTemp": "battery_temp",
        "lastSeen": "last_seen",
        "efficiency": "efficiency",
    },
    frozenset({"efficiency"}),
)
METERS: Final = Kind(
    "fleet_meters",
    "meter_id",
    "meter_alerts(last_seen, voltage)",
    {"id": "meter_id", "voltage": "voltage", "lastSeen": "last_seen"},
)


@dataclass(frozen=True, slots=True)
class ListQuery:
    kind: Kind
    limit: int
    sort: str
    descending: bool
    q: str | None
    alerts_only: bool
    after: tuple[bool, float | datetime | str, str] | None
    """The cursor: the last row's (sort value is null, sort value, id)."""


def _invalid(field: str, message: str) -> InvalidInput:
    problem = Problem(field, message)
    return InvalidInput(f"Invalid query: {problem.sentence()}.", [problem])


def _limit(raw: str | None) -> int:
    if raw is None:
        return _LIMIT_DEFAULT
    if not (raw.isascii() and raw.isdigit() and len(raw) <= 3 and 1 <= int(raw) <= _LIMIT_MAX):
        raise _invalid("limit", f"must be a whole number from 1 to {_LIMIT_MAX}")
    return int(raw)


def _choice(raw: str | None, field: str, choices: list[str]) -> str:
    if raw is None:
        return choices[0]
    if raw not in choices:
        raise _invalid(field, "must be one of " + ", ".join(choices))
    return raw


def encode_cursor(sort: str, descending: bool, key: tuple[bool, str, str]) -> str:
    raw = json.dumps([sort, descending, *key], separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _sort_value(column: str, text: str) -> float | datetime | str:
    """A cursor's sort value, from the text PostgreSQL gave it back to its column's type."""
    kind = _type(column)
    if kind == "float8":
        number = float(text)
        if not math.isfinite(number):
            raise ValueError(text)
        return number
    if kind == "timestamptz":
        moment = datetime.fromisoformat(text)
        if moment.tzinfo is None:
            raise ValueError(text)
        return moment
    return text


def _cursor(
    raw: str | None, kind: Kind, sort: str, descending: bool
) -> tuple[bool, float | datetime | str, str] | None:
    if raw is None:
        return None
    try:
        decoded = json.loads(base64.urlsafe_b64decode(raw + "=" * (-len(raw) % 4)))
    except (ValueError, binascii.Error):
        decoded = None
    match decoded:
        case [str(), bool(), bool(null), str(text), str(last)] if (
            decoded[:2] == [sort, descending]
            and "\x00" not in text + last
            and (null is False or sort in kind.nullable)
        ):
            try:
                return null, _sort_value(kind.sorts[sort], text), last
            except ValueError:
                pass
        case [str(), bool(), bool(), str(), str()] if decoded[:2] != [sort, descending]:
            raise _invalid("cursor", "belongs to another sort or order; start again without it")
    raise _invalid("cursor", "must be a nextCursor of this list, unchanged")


def parse_list_query(kind: Kind, args: Mapping[str, str]) -> ListQuery:
    """The query string of a fleet list; a bad or unknown parameter is a 400 naming it."""
    known = {"limit", "cursor", "sort", "order", "q", "alerts"}
    for name in args:
        if name not in known:
            raise _invalid(name, "is not a parameter of this list: " + ", ".join(sorted(known)))
    sort = _choice(args.get("sort"), "sort", list(kind.sorts))
    descending = _choice(args.get("order"), "order", ["asc", "desc"]) == "desc"
    q = args.get("q")
    if q is not None and not (1 <= len(q) <= _Q_MAX and "\x00" not in q):
        raise _invalid("q", f"must be 1 to {_Q_MAX} characters, none of them NUL")
    alerts = _choice(args.get("alerts"), "alerts", ["false", "true"]) == "true"
    return ListQuery(
        kind=kind,
        limit=_limit(args.get("limit")),
        sort=sort,
        descending=descending,
        q=q,
        alerts_only=alerts,
        after=_cursor(args.get("cursor"), kind, sort, descending),
    )


def list_sql(query: ListQuery) -> tuple[str, list[Any]]:
    """One statement: the page (one row more than asked, to know whether another follows), each
    row with its sort key as text for the next cursor, and the filtered total."""
    kind = query.kind
    column = kind.sorts[query.sort]
    direction = "DESC" if query.descending else "ASC"
    compare = "<" if query.descending else ">"
    args: list[Any] = [query.q, query.alerts_only, query.limit + 1]
    order = f"{column} {direction}, {kind.key} {direction}"
    nullable = query.sort in kind.nullable
    null, flag, value = "false", "", column
    keyset = "true"
    if nullable:
        # Nulls last in either order, then ordered by id like the rest. Descending, the flag
        # first is "not null", so that every key of the order runs one way: the keyset is then
        # one row comparison, which an index of the same keys serves (sql/011).
        null, value = f"({column} IS NULL)", f"coalesce({column}, 0)"
        flag = f"({column} IS NOT NULL)" if query.descending else null
        order = f"{flag} {direction}, {value} {direction}, {kind.key} {direction}"
    if query.after is not None:
        is_null, after_value, after_key = query.after
        args += [after_value, after_key]
        keys, bounds = f"{value}, {kind.key}", f"$4::{_type(column)}, $5"
        if nullable:
            args.append(is_null)
            keys = f"{flag}, {keys}"
            bounds = f"{'NOT ' if query.descending else ''}$6::boolean, {bounds}"
        keyset = f"({keys}) {compare} ({bounds})"
    # The page is read in its order from the start of the keyset (an index for the efficiency
    # sort, sql/009 and sql/011), so that it costs its own rows; the total is counted apart,
    # over the filtered list before the keyset cuts it. The cursor's text is made for the
    # page's rows.
    sql = f"""
SELECT page.*, {kind.alerts} AS alerts, {null} AS sort_null, {value}::text AS sort_value,
       (SELECT start FROM fleet_window) AS window_start,
       ({_count(kind)}) AS total
FROM (
    SELECT * FROM {kind.view}
    WHERE {_filter(kind)} AND {keyset}
    ORDER BY {order}
    LIMIT $3
) AS page
ORDER BY {order}
"""
    return sql, args


def _count(kind: Kind) -> str:
    """The filtered list's total: the list before the keyset cuts it."""
    return f"SELECT count(*) FROM {kind.view} WHERE {_filter(kind)}"


def _filter(kind: Kind) -> str:
    return (
        f"($1::text IS NULL OR strpos(lower({kind.key}), lower($1)) > 0)"
        f" AND (NOT $2 OR cardinality({kind.alerts}) > 0)"
    )


def count_sql(query: ListQuery) -> tuple[str, list[Any]]:
    """The filtered total alone, for a page that came out empty (the devices after the cursor
    left the list, say once their alert cleared)."""
    return _count(query.kind), [query.q, query.alerts_only]


def _type(column: str) -> str:
    return {
        "last_seen": "timestamptz",
        "vehicle_id": "text",
        "meter_id": "text",
    }.get(column, "float8")


# The alerts are counted with the rules' conditions (sql/009), and a vehicle's in two parts
# that never overlap, so that neither joins the whole fleet: those of its latest state alone
# (stale, battery_hot), over the latest rows, and those of its efficiency alone of vehicles
# without the others, which an index of sql/009 holds (usually a handful). The sums are the
# window's totals, which the fold keeps (the store folds before the read).
SUMMARY_SQL: Final = """
SELECT now() AS as_of, f.start AS window_start, f.total_dc_kwh::float8 AS dc_kwh,
       f.total_ac_kwh::float8 AS ac_kwh, v.*, m.*,
       (SELECT count(*) FROM vehicle_meter_links) AS links
FROM fleet_window AS f,
     (SELECT count(*) AS vehicles,
             count(*) FILTER (WHERE ts > now() - interval '2 minutes') AS v_reporting,
             count(*) FILTER (WHERE alert_stale(ts)) AS v_stale,
             count(*) FILTER (WHERE kwh_delivered_dc > 0) AS charging,
             count(*) FILTER (WHERE alert_stale(ts) OR alert_battery_hot(battery_temp))
             + (SELECT count(*)
                FROM vehicle_efficiency AS e
                JOIN vehicle_latest AS l ON l.vehicle_id = e.vehicle_id
                WHERE (alert_efficiency_low(e.efficiency) OR alert_efficiency_high(e.efficiency))
                  AND NOT (alert_stale(l.ts) OR alert_battery_hot(l.battery_temp))) AS v_alerts
      FROM vehicle_latest) AS v,
     (SELECT count(*) AS meters,
             count(*) FILTER (WHERE ts > now() - interval '2 minutes') AS m_reporting,
             count(*) FILTER (WHERE alert_stale(ts)) AS m_stale,
             count(*) FILTER (WHERE alert_stale(ts) OR alert_voltage_out_of_range(voltage)
                                    OR alert_outage(voltage)) AS m_alerts
      FROM meter_latest) AS m
"""


@dataclass(frozen=True, slots=True)
class Page:
    """A list's page as read: ``rows`` are what ``list_sql`` selected, one more than the limit
    when another page follows."""

    query: ListQuery
    rows: Sequence[Mapping[str, Any]]
    window: FleetWindow
    total: int

    @property
    def shown(self) -> Sequence[Mapping[str, Any]]:
        return self.rows[: self.query.limit]

    @property
    def next_cursor(self) -> str | None:
        """The cursor of the page after this one; None when this is the last."""
        if len(self.rows) <= self.query.limit:
            return None
        last = self.shown[-1]
        return encode_cursor(
            self.query.sort,
            self.query.descending,
            (last["sort_null"], last["sort_value"], last[self.query.kind.key]),
        )
