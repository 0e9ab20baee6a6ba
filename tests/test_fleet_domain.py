"""The fleet views' domain code without I/O: query parameters and cursors (daemon.reads.fleet),
the summary's flush quantiles (daemon.metrics.engine.quantile) and the route templates of the HTTP
metrics (daemon.http.request_metrics.route_of)."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime, timedelta, timezone

import pytest

from daemon.errors import InvalidInput
from daemon.http import shapes
from daemon.http.request_metrics import route_of
from daemon.metrics.engine import quantile
from daemon.reads import fleet
from daemon.reads import records as views
from daemon.reads import window as windows
from daemon.reads.fleet import METERS, VEHICLES, Kind

INF = float("inf")


def _refused(kind: Kind, args: dict[str, str]) -> str:
    """The one field a refused query names."""
    with pytest.raises(InvalidInput) as refused:
        fleet.parse_list_query(kind, args)
    fields = [problem.field for problem in refused.value.problems]
    assert len(fields) == 1, fields
    assert fields[0] in refused.value.message
    return fields[0]


# --- list queries ---------------------------------------------------------------------------


def test_defaults() -> None:
    query = fleet.parse_list_query(VEHICLES, {})
    assert (query.limit, query.sort, query.descending) == (100, "id", False)
    assert (query.q, query.alerts_only, query.after) == (None, False, None)


def test_every_parameter_is_read() -> None:
    query = fleet.parse_list_query(
        METERS, {"limit": "7", "sort": "voltage", "order": "desc", "q": "Ab", "alerts": "true"}
    )
    assert (query.limit, query.sort, query.descending) == (7, "voltage", True)
    assert (query.q, query.alerts_only) == ("Ab", True)


@pytest.mark.parametrize("limit", ["1", "500", "100", "42"])
def test_limit_bounds_accepted(limit: str) -> None:
    assert fleet.parse_list_query(VEHICLES, {"limit": limit}).limit == int(limit)


@pytest.mark.parametrize("limit", ["0", "501", "-1", "abc", "", "1.5", "1e2", " 5", "\u0665"])
def test_limit_out_of_bounds_names_limit(limit: str) -> None:
    assert _refused(VEHICLES, {"limit": limit}) == "limit"


@pytest.mark.parametrize(
    ("kind", "sorts"),
    [
        (VEHICLES, ["id", "soc", "batteryTemp", "lastSeen", "efficiency"]),
        (METERS, ["id", "voltage", "lastSeen"]),
    ],
)
def test_sort_keys_of_each_list(kind: Kind, sorts: list[str]) -> None:
    for sort in sorts:
        assert fleet.parse_list_query(kind, {"sort": sort}).sort == sort
    for bad in ("efficiency" if kind is METERS else "voltage", "ID", "soc desc", ""):
        assert _refused(kind, {"sort": bad}) == "sort"


@pytest.mark.parametrize(
    ("args", "field"),
    [
        ({"order": "up"}, "order"),
        ({"order": "DESC"}, "order"),
        ({"alerts": "yes"}, "alerts"),
        ({"alerts": "1"}, "alerts"),
        ({"q": "x" * 65}, "q"),
        ({"page": "2"}, "page"),
        ({"limit": "5", "offset": "10"}, "offset"),
    ],
)
def test_bad_parameters_name_themselves(args: dict[str, str], field: str) -> None:
    assert _refused(VEHICLES, args) == field


def test_cursor_round_trip() -> None:
    """The sort value travels as PostgreSQL's text and comes back in its column's type."""
    cursor = fleet.encode_cursor("efficiency", True, (True, "0", "v-9"))
    assert "=" not in cursor, "a cursor needs no escaping in a query string"
    query = fleet.parse_list_query(
        VEHICLES, {"sort": "efficiency", "order": "desc", "cursor": cursor}
    )
    assert query.after == (True, 0.0, "v-9")
    seen = fleet.encode_cursor("lastSeen", False, (False, "2026-11-27 07:14:44.123456+00", "v-1"))
    after = fleet.parse_list_query(VEHICLES, {"sort": "lastSeen", "cursor": seen}).after
    assert after == (False, datetime(2026, 11, 27, 7, 14, 44, 123456, tzinfo=UTC), "v-1")


@pytest.mark.parametrize(("sort", "order"), [("soc", "asc"), ("id", "desc"), ("efficiency", "asc")])
def test_cursor_of_another_sort_or_order_is_refused(sort: str, order: str) -> None:
    cursor = fleet.encode_cursor("efficiency", True, (False, "0.9", "v-1"))
    assert _refused(VEHICLES, {"sort": sort, "order": order, "cursor": cursor}) == "cursor"


def _b64(value: object) -> str:
    return base64.urlsafe_b64encode(json.dumps(value).encode()).decode().rstrip("=")


@pytest.mark.parametrize(
    "cursor",
    [
        "",
        "!!!",
        "not-a-cursor",
        _b64({"sort": "id"}),
        _b64(["id", False, False, "v-1"]),
        _b64(["id", False, "no", "v-1", "v-1"]),
        _b64(["id", 0, False, "v-1", "v-1"]),
        _b64(["id", False, False, 1, "v-1"]),
        base64.urlsafe_b64encode(b"\xff\xfe").decode(),
    ],
)
def test_garbled_cursor_is_refused(cursor: str) -> None:
    assert _refused(VEHICLES, {"cursor": cursor}) == "cursor"


# --- windows and ratios ---------------------------------------------------------------------


def test_window_is_this_hour_and_the_23_before() -> None:
    now = datetime(2026, 2, 9, 10, 59, 59, 999_999, tzinfo=UTC)
    start = windows.window_start(now)
    assert start == datetime(2026, 2, 8, 11, tzinfo=UTC)
    window = windows.FleetWindow(start)
    assert window.end == datetime(2026, 2, 9, 11, tzinfo=UTC)
    assert window.start <= now < window.end
    assert shapes.window(window) == {
        "windowStart": "2026-02-08T11:00:00.000Z",
        "windowEnd": "2026-02-09T11:00:00.000Z",
    }
    assert windows.window_start(now + timedelta(microseconds=1)) == start + timedelta(hours=1)


def test_hour_floor_is_in_utc() -> None:
    india = timezone(timedelta(hours=5, minutes=30))
    moment = datetime(2026, 2, 9, 16, 10, tzinfo=india)  # 10:40 UTC
    assert windows.hour_floor(moment) == datetime(2026, 2, 9, 10, tzinfo=UTC)


def test_ratio() -> None:
    assert views.ratio(8.0, 10.0) == 0.8
    assert views.ratio(0.0, 10.0) == 0.0
    assert views.ratio(5.0, 0.0) is None
    assert views.ratio(0.0, 0.0) is None


# --- flush quantiles --------------------------------------------------------------------------


def test_quantile_without_observations_is_none() -> None:
    assert quantile(0.5, []) is None
    assert quantile(0.5, [(0.01, 0), (0.1, 0), (INF, 0)]) is None


def test_quantile_interpolates_inside_its_bucket() -> None:
    buckets = [(0.01, 0.0), (0.1, 5.0), (1.0, 10.0), (INF, 10.0)]
    assert quantile(0.5, buckets) == pytest.approx(0.1)
    assert quantile(0.25, buckets) == pytest.approx(0.055)
    assert quantile(0.75, buckets) == pytest.approx(0.55)
    assert quantile(0.99, buckets) == pytest.approx(0.982)


def test_quantile_of_the_first_bucket_starts_at_zero() -> None:
    assert quantile(0.5, [(1.0, 10.0), (INF, 10.0)]) == pytest.approx(0.5)


def test_quantile_in_the_infinite_bucket_is_the_largest_finite_bound() -> None:
    # As Prometheus's histogram_quantile: nothing is known above the last finite bound.
    buckets = [(0.01, 1.0), (0.1, 2.0), (INF, 10.0)]
    assert quantile(0.99, buckets) == 0.1
    assert quantile(0.5, buckets) == 0.1


# --- route templates --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "route"),
    [
        ("/v1/ingest", "/v1/ingest"),
        ("/v1/ingest/batch", "/v1/ingest/batch"),
        ("/v1/links", "/v1/links"),
        ("/v1/links/v-1", "/v1/links/{vehicleId}"),
        ("/v1/status/vehicle/vehicle-001", "/v1/status/vehicle/{vehicleId}"),
        ("/v1/status/meter/meter-001", "/v1/status/meter/{meterId}"),
        ("/v1/analytics/performance/v-1", "/v1/analytics/performance/{vehicleId}"),
        ("/v1/analytics/performance/v-1/hourly", "/v1/analytics/performance/{vehicleId}/hourly"),
        # A vehicle may be called "hourly": Quart serves it as the analytics of that vehicle.
        ("/v1/analytics/performance/hourly", "/v1/analytics/performance/{vehicleId}"),
        ("/v1/fleet/summary", "/v1/fleet/summary"),
        ("/v1/fleet/vehicles", "/v1/fleet/vehicles"),
        ("/v1/fleet/meters", "/v1/fleet/meters"),
        ("/healthz", "/healthz"),
        ("/readyz", "/readyz"),
        ("/metrics", "/metrics"),
        ("/openapi.json", "/openapi.json"),
        ("/v1/links/", "unmatched"),
        ("/v1/status/vehicle/", "unmatched"),
        ("/v1/status/vehicle/a/b", "unmatched"),
        ("/v1/analytics/performance/v-1/daily", "unmatched"),
        ("/v1/analytics/performance//hourly", "unmatched"),
        ("/v2/anything/v-1", "unmatched"),
        ("/", "unmatched"),
    ],
)
def test_route_of(path: str, route: str) -> None:
    assert route_of(path) == route
