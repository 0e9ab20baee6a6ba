"""The wire shapes: API.md's own examples parse to the values they state, and every way an
answer can drift from the contract is one ``BadAnswer`` naming the field."""

from __future__ import annotations

import copy
import json
from datetime import UTC, datetime
from typing import Any

import pytest

from monitor.api import wire
from monitor.api.errors import BadAnswer
from monitor.api.wire import ListQuery

SUMMARY: dict[str, Any] = {
    "asOf": "2026-02-09T10:00:00.000Z",
    "vehicles": {"total": 10000, "reporting": 9950, "stale": 50, "charging": 4200, "alerts": 73},
    "meters": {"total": 10000, "reporting": 9948, "stale": 52, "alerts": 12},
    "links": 10000,
    "fleetEfficiency": {
        "windowStart": "2026-02-08T10:00:00.000Z",
        "windowEnd": "2026-02-09T10:00:00.000Z",
        "totalEnergyConsumedAc": 123.4,
        "totalEnergyDeliveredDc": 110.2,
        "efficiencyRatio": 0.893,
    },
    "engine": {
        "workers": 2,
        "readingsPerSecond": 1830.5,
        "accepted": 28800000,
        "rejected": 12,
        "queueDepth": [0, 3, 0, 1],
        "flushSeconds": {"p50": 0.012, "p99": 0.041},
        "database": "ok",
        "uptimeSeconds": 3600,
    },
}

VEHICLES: dict[str, Any] = {
    "items": [
        {
            "vehicleId": "v-1",
            "meterId": "m-1",
            "soc": 68.2,
            "batteryTemp": 31.4,
            "kwhDeliveredDc": 1.18,
            "lastSeen": "2026-02-09T09:59:00.000Z",
            "dcKwh24h": 41.2,
            "acKwh24h": 46.0,
            "efficiency24h": 0.8957,
            "alerts": ["battery_hot"],
        }
    ],
    "total": 10000,
    "nextCursor": "abc",
    "windowStart": "2026-02-08T11:00:00.000Z",
    "windowEnd": "2026-02-09T11:00:00.000Z",
}

HOURLY: dict[str, Any] = {
    "vehicleId": "v-1",
    "meterId": "m-1",
    "hours": [
        {
            "hourStart": "2026-02-09T09:00:00.000Z",
            "totalEnergyConsumedAc": 7.5,
            "totalEnergyDeliveredDc": 6.6,
            "efficiencyRatio": 0.88,
            "avgBatteryTemp": 30.5,
            "vehicleReadings": 60,
            "meterReadings": 59,
        },
        {
            "hourStart": "2026-02-09T10:00:00.000+00:00",
            "totalEnergyConsumedAc": 0,
            "totalEnergyDeliveredDc": 0,
            "efficiencyRatio": None,
            "avgBatteryTemp": None,
            "vehicleReadings": 0,
            "meterReadings": 0,
        },
    ],
}


def test_the_contracts_summary_parses_to_its_figures() -> None:
    summary = wire.summary(SUMMARY)
    assert summary.as_of == datetime(2026, 2, 9, 10, tzinfo=UTC)
    assert summary.vehicles == wire.VehicleCounts(10000, 9950, 50, 4200, 73)
    assert summary.meters == wire.MeterCounts(10000, 9948, 52, 12)
    assert summary.links == 10000
    assert summary.efficiency.ratio == 0.893
    engine = summary.engine
    assert engine.queue_depth == (0, 3, 0, 1)
    assert (engine.flush_p50_s, engine.flush_p99_s) == (0.012, 0.041)
    assert engine.uptime_s == 3600.0
    assert engine.accepted == 28_800_000


def test_percentiles_before_any_flush_are_no_value() -> None:
    body = copy.deepcopy(SUMMARY)
    body["engine"]["flushSeconds"] = {"p50": None, "p99": None}
    body["fleetEfficiency"]["efficiencyRatio"] = None
    summary = wire.summary(body)
    assert summary.engine.flush_p50_s is None
    assert summary.efficiency.ratio is None


def test_fields_the_monitor_does_not_know_are_ignored() -> None:
    """The contract lets the daemon add fields; an older monitor must keep working."""
    body = copy.deepcopy(SUMMARY)
    body["engine"]["replaced"] = 5
    body["newSection"] = {"anything": [1, 2]}
    assert wire.summary(body) == wire.summary(SUMMARY)


def test_a_vehicle_page_parses_with_its_cursor_and_alerts() -> None:
    page = wire.vehicle_page(VEHICLES)
    assert page.total == 10000
    assert page.next_cursor == "abc"
    (row,) = page.items
    assert row.vehicle_id == "v-1"
    assert row.meter_id == "m-1"
    assert row.efficiency_24h == 0.8957
    assert row.alerts == ("battery_hot",)
    assert row.last_seen == datetime(2026, 2, 9, 9, 59, tzinfo=UTC)


def test_a_vehicle_without_link_or_readings_has_no_values_rather_than_zeros() -> None:
    body = copy.deepcopy(VEHICLES)
    item = body["items"][0]
    for name in ("meterId", "soc", "batteryTemp", "kwhDeliveredDc", "lastSeen", "efficiency24h"):
        item[name] = None
    row = wire.vehicle_page(body).items[0]
    assert (row.meter_id, row.soc, row.last_seen, row.efficiency_24h) == (None, None, None, None)


def test_a_meter_page_parses() -> None:
    page = wire.meter_page(
        {
            "items": [
                {
                    "meterId": "m-1",
                    "voltage": 0,
                    "kwhConsumedAc": 0.0,
                    "lastSeen": "2026-02-09T09:59:00.000Z",
                    "acKwh24h": 12.5,
                    "alerts": ["outage"],
                }
            ],
            "total": 1,
            "nextCursor": None,
            "windowStart": "2026-02-08T11:00:00.000Z",
            "windowEnd": "2026-02-09T11:00:00.000Z",
        }
    )
    assert page.next_cursor is None
    assert page.items[0].voltage == 0.0
    assert page.items[0].alerts == ("outage",)


def test_performance_and_hourly_parse() -> None:
    performance = wire.performance(
        {
            "vehicleId": "vehicle-001",
            "meterId": "meter-001",
            "windowStart": "2026-02-08T10:00:00.000Z",
            "windowEnd": "2026-02-09T10:00:00.000Z",
            "totalEnergyConsumedAc": 15.0,
            "totalEnergyDeliveredDc": 12.0,
            "efficiencyRatio": 0.8,
            "avgBatteryTemp": 32.0,
            "vehicleReadings": 2,
            "meterReadings": 2,
        }
    )
    assert (performance.ac_kwh, performance.dc_kwh, performance.ratio) == (15.0, 12.0, 0.8)
    hourly = wire.hourly(HOURLY)
    assert [hour.ac_kwh for hour in hourly.hours] == [7.5, 0.0]
    assert hourly.hours[1].ratio is None
    assert hourly.hours[1].start == datetime(2026, 2, 9, 10, tzinfo=UTC)


def test_status_answers_keep_the_originals_snake_case() -> None:
    status = wire.vehicle_status(
        {
            "vehicle_id": "v-1",
            "soc": 50,
            "kwh_delivered_dc": 1.2,
            "battery_temp": 30,
            "ts": "2026-02-09T10:00:00.000Z",
            "updated_at": "2026-02-09T10:00:00.050Z",
        }
    )
    assert status.soc == 50.0
    meter = wire.meter_status(
        {
            "meter_id": "m-1",
            "kwh_consumed_ac": 1.5,
            "voltage": 230,
            "ts": "2026-02-09T10:00:00.000Z",
            "updated_at": "2026-02-09T10:00:00.050Z",
        }
    )
    assert meter.voltage == 230.0


@pytest.mark.parametrize(
    ("status", "body", "expected"),
    [
        (200, {"status": "ready"}, wire.Readiness(ready=True, reason=None)),
        (
            503,
            {"status": "not_ready", "reason": "database unreachable"},
            wire.Readiness(ready=False, reason="database unreachable"),
        ),
        (503, {"status": "not_ready"}, wire.Readiness(ready=False, reason=None)),
    ],
)
def test_readiness(status: int, body: object, expected: wire.Readiness) -> None:
    assert wire.readiness(status, body) == expected


def test_a_readiness_that_contradicts_its_status_is_refused() -> None:
    with pytest.raises(BadAnswer, match="200"):
        wire.readiness(200, {"status": "not_ready"})


def _broken(change: str) -> dict[str, Any]:
    """The summary with one change, written as ``path=json``."""
    path, value = change.split("=", 1)
    body = copy.deepcopy(SUMMARY)
    *parents, last = path.split(".")
    target = body
    for name in parents:
        target = target[name]
    if value == "<absent>":
        del target[last]
    else:
        target[last] = json.loads(value)
    return body


@pytest.mark.parametrize(
    ("change", "named"),
    [
        ("links=<absent>", "body.links is missing"),
        ("links=true", "body.links is a boolean"),
        ("links=-1", "body.links is a number (-1), not a count"),
        ("links=1.5", "body.links is a number (1.5), not a count"),
        ('engine.readingsPerSecond="fast"', "body.engine.readingsPerSecond is a string"),
        ("engine.readingsPerSecond=null", "body.engine.readingsPerSecond is null"),
        ("engine.readingsPerSecond=NaN", "body.engine.readingsPerSecond is a number"),
        ('engine.queueDepth=[0, "3"]', "body.engine.queueDepth[1] is a string"),
        ("engine.queueDepth={}", "body.engine.queueDepth is an object, not a list"),
        ("engine.database=1", "body.engine.database is a number"),
        ('asOf="2026-02-09T10:00:00"', "body.asOf has no UTC offset"),
        ('asOf="yesterday"', "body.asOf is not an RFC 3339 time"),
        ("vehicles=[]", "body.vehicles is a list, not an object"),
        ("engine.flushSeconds=<absent>", "body.engine.flushSeconds is missing"),
    ],
)
def test_a_summary_off_the_contract_is_one_error_naming_the_field(change: str, named: str) -> None:
    with pytest.raises(BadAnswer) as raised:
        wire.summary(_broken(change))
    assert named in str(raised.value)


@pytest.mark.parametrize("body", [None, [], "ok", 3, True])
def test_a_body_that_is_not_an_object_is_refused(body: object) -> None:
    with pytest.raises(BadAnswer, match="body is"):
        wire.summary(body)


def test_an_item_off_the_contract_is_named_by_its_index() -> None:
    body = copy.deepcopy(VEHICLES)
    body["items"].append({**body["items"][0], "alerts": "battery_hot"})
    with pytest.raises(BadAnswer, match=r"body.items\[1\].alerts is a string"):
        wire.vehicle_page(body)


def test_error_message_is_taken_from_the_contracts_error_shape_only() -> None:
    assert wire.error_message({"statusCode": 404, "message": "Vehicle not found"}) == (
        "Vehicle not found"
    )
    assert wire.error_message({"message": 3}) is None
    assert wire.error_message("<html>") is None


def test_a_list_query_sends_only_what_it_sets() -> None:
    assert ListQuery().params() == {"limit": "100", "sort": "id", "order": "asc"}
    query = ListQuery(sort="soc", order="desc", q="veh", alerts_only=True, limit=50, cursor="c")
    assert query.params() == {
        "limit": "50",
        "sort": "soc",
        "order": "desc",
        "q": "veh",
        "alerts": "true",
        "cursor": "c",
    }
