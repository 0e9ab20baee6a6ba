"""The strict body parser against the "Readings" rules of the wire contract (API.md).

Every rule is checked both ways: a value at the edge that must be accepted, and one just past
it that must be refused with a problem naming the field and a message that mentions it.
"""

from __future__ import annotations

import collections
import dataclasses
import enum
import json
import math
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any, NoReturn

import pytest

from daemon import readings
from daemon.errors import InvalidInput, Problem
from daemon.readings import (
    MAX_BATCH,
    MAX_PROBLEMS,
    Link,
    MeterReading,
    VehicleReading,
    Window,
    device_id,
    parse_batch,
    parse_hours,
    parse_json,
    parse_link,
    parse_ndjson,
    parse_reading,
)

NOW = datetime(2026, 2, 10, 12, 0, tzinfo=UTC)
WINDOW = Window(now=NOW, max_ahead=timedelta(minutes=5), max_age=timedelta(days=30))
TS_TEXT = "2026-02-09T10:00:00Z"
TS = datetime(2026, 2, 9, 10, 0, tzinfo=UTC)

NUMERIC_FIELDS = ("kwhConsumedAc", "voltage", "soc", "kwhDeliveredDc", "batteryTemp")
METER_NUMBERS = frozenset({"kwhConsumedAc", "voltage"})


def meter(**changes: Any) -> dict[str, Any]:
    obj: dict[str, Any] = {
        "meterId": "meter-001",
        "kwhConsumedAc": 1.5,
        "voltage": 230.0,
        "timestamp": TS_TEXT,
    }
    obj.update(changes)
    return obj


def vehicle(**changes: Any) -> dict[str, Any]:
    obj: dict[str, Any] = {
        "vehicleId": "vehicle-001",
        "soc": 55.0,
        "kwhDeliveredDc": 1.2,
        "batteryTemp": 31.5,
        "timestamp": TS_TEXT,
    }
    obj.update(changes)
    return obj


def reading_with(field: str, value: Any) -> dict[str, Any]:
    """A valid reading of the kind that owns ``field``, with ``field`` set to ``value``."""
    return meter(**{field: value}) if field in METER_NUMBERS else vehicle(**{field: value})


def without(obj: dict[str, Any], field: str) -> dict[str, Any]:
    return {key: value for key, value in obj.items() if key != field}


def rejected(obj: Any, field: str) -> InvalidInput:
    """Parse ``obj``, expect a refusal naming ``field`` in a problem and in the message."""
    with pytest.raises(InvalidInput) as caught:
        parse_reading(obj, WINDOW)
    error = caught.value
    assert field in {problem.field for problem in error.problems}, error.problems
    assert field in error.message, error.message
    assert all(problem.index is None for problem in error.problems)
    return error


def only_problem(error: InvalidInput) -> Problem:
    assert len(error.problems) == 1, error.problems
    return error.problems[0]


def is_sentence(message: str) -> bool:
    """Starts with a capital letter or a number, ends with one full stop."""
    return (
        bool(message)
        and (message[0].isupper() or message[0].isdigit())
        and message.endswith(".")
        and not message.endswith("..")
    )


def json_with_token(obj: dict[str, Any], field: str, token: str) -> bytes:
    """``obj`` as JSON text with the value of ``field`` replaced by a raw JSON token."""
    text = json.dumps({**obj, field: "__TOKEN__"})
    assert text.count('"__TOKEN__"') == 1
    return text.replace('"__TOKEN__"', token).encode()


# --- whole readings ------------------------------------------------------------------------


def test_valid_meter_reading_is_parsed_to_a_meter_reading() -> None:
    reading = parse_reading(meter(), WINDOW)

    assert reading == MeterReading(device_id="meter-001", ts=TS, kwh_consumed_ac=1.5, voltage=230.0)
    assert reading.kind == "meter"


def test_valid_vehicle_reading_is_parsed_to_a_vehicle_reading() -> None:
    reading = parse_reading(vehicle(), WINDOW)

    assert reading == VehicleReading(
        device_id="vehicle-001", ts=TS, soc=55.0, kwh_delivered_dc=1.2, battery_temp=31.5
    )
    assert reading.kind == "vehicle"


def test_reading_from_a_json_body_is_parsed() -> None:
    body = json.dumps(meter(kwhConsumedAc=2, voltage=0)).encode()

    reading = parse_reading(parse_json(body), WINDOW)

    assert isinstance(reading, MeterReading)
    assert reading.kwh_consumed_ac == 2.0
    assert isinstance(reading.kwh_consumed_ac, float)
    assert reading.voltage == 0.0


@pytest.mark.parametrize(
    "obj",
    [
        pytest.param(42, id="number"),
        pytest.param("meter-001", id="string"),
        pytest.param(None, id="null"),
        pytest.param([meter()], id="array"),
    ],
)
def test_reading_that_is_not_an_object_is_rejected(obj: Any) -> None:
    error = rejected(obj, "body")

    assert "must be a JSON object" in only_problem(error).message


def test_both_ids_are_rejected() -> None:
    error = rejected({**meter(), "vehicleId": "vehicle-001"}, "vehicleId")

    assert "meterId" in error.message
    assert "exactly one" in error.message


def test_neither_id_is_rejected() -> None:
    error = rejected(without(meter(), "meterId"), "vehicleId")

    assert "meterId" in error.message
    assert "required" in error.message


@pytest.mark.parametrize(
    ("obj", "field"),
    [
        pytest.param(meter(colour="red"), "colour", id="unknown-on-meter"),
        pytest.param(vehicle(colour="red"), "colour", id="unknown-on-vehicle"),
        pytest.param(meter(soc=50), "soc", id="soc-on-meter"),
        pytest.param(meter(batteryTemp=20), "batteryTemp", id="batteryTemp-on-meter"),
        pytest.param(meter(kwhDeliveredDc=1), "kwhDeliveredDc", id="kwhDeliveredDc-on-meter"),
        pytest.param(vehicle(voltage=230), "voltage", id="voltage-on-vehicle"),
        pytest.param(vehicle(kwhConsumedAc=1), "kwhConsumedAc", id="kwhConsumedAc-on-vehicle"),
        pytest.param(meter(MeterId="x"), "MeterId", id="case-matters"),
    ],
)
def test_field_not_of_the_kind_is_rejected(obj: dict[str, Any], field: str) -> None:
    error = rejected(obj, field)

    assert "is not a field of a" in only_problem(error).message


@pytest.mark.parametrize(
    ("base", "field"),
    [
        pytest.param(meter(), "kwhConsumedAc", id="meter-kwhConsumedAc"),
        pytest.param(meter(), "voltage", id="meter-voltage"),
        pytest.param(meter(), "timestamp", id="meter-timestamp"),
        pytest.param(vehicle(), "soc", id="vehicle-soc"),
        pytest.param(vehicle(), "kwhDeliveredDc", id="vehicle-kwhDeliveredDc"),
        pytest.param(vehicle(), "batteryTemp", id="vehicle-batteryTemp"),
        pytest.param(vehicle(), "timestamp", id="vehicle-timestamp"),
    ],
)
def test_missing_field_is_required(base: dict[str, Any], field: str) -> None:
    error = rejected(without(base, field), field)

    assert only_problem(error) == Problem(field, "is required")


def test_every_problem_of_a_reading_is_listed() -> None:
    obj = meter(kwhConsumedAc=-1, voltage=None, timestamp="yesterday", extra=1)

    with pytest.raises(InvalidInput) as caught:
        parse_reading(obj, WINDOW)

    fields = [problem.field for problem in caught.value.problems]
    assert sorted(fields) == ["extra", "kwhConsumedAc", "timestamp", "voltage"]
    assert "(and 3 more problems)" in caught.value.message


# --- device ids ----------------------------------------------------------------------------

GOOD_IDS = [
    pytest.param("a", id="one-letter"),
    pytest.param("7", id="one-digit"),
    pytest.param("x" * 64, id="64-chars"),
    pytest.param("A1" + "z" * 62, id="64-mixed"),
    pytest.param("m.e_t:e-r", id="punctuation-inside"),
    pytest.param("meter-", id="punctuation-at-end"),
    pytest.param("0:_.-", id="digit-then-all-punctuation"),
]

BAD_IDS = [
    pytest.param("", id="empty"),
    pytest.param("x" * 65, id="65-chars"),
    pytest.param(".meter", id="starts-with-dot"),
    pytest.param("_meter", id="starts-with-underscore"),
    pytest.param(":meter", id="starts-with-colon"),
    pytest.param("-meter", id="starts-with-dash"),
    pytest.param("métér", id="non-ascii-letters"),
    pytest.param("\u0661\u0662", id="arabic-indic-digits"),
    pytest.param("m1\n", id="trailing-newline"),
    pytest.param("m1 ", id="trailing-space"),
    pytest.param(" m1", id="leading-space"),
    pytest.param("m 1", id="inner-space"),
    pytest.param("m1\t", id="trailing-tab"),
    pytest.param("m/1", id="slash"),
    pytest.param("m1\x00", id="nul"),
]

NON_STRING_IDS = [
    pytest.param(12, id="number"),
    pytest.param(None, id="null"),
    pytest.param(True, id="boolean"),
    pytest.param(["m1"], id="array"),
    pytest.param({"id": "m1"}, id="object"),
]


@pytest.mark.parametrize("value", GOOD_IDS)
@pytest.mark.parametrize("kind", ["meter", "vehicle"])
def test_good_device_id_is_accepted(kind: str, value: str) -> None:
    obj = meter(meterId=value) if kind == "meter" else vehicle(vehicleId=value)

    assert parse_reading(obj, WINDOW).device_id == value


@pytest.mark.parametrize("value", BAD_IDS + NON_STRING_IDS)
@pytest.mark.parametrize("field", ["meterId", "vehicleId"])
def test_bad_device_id_is_rejected(field: str, value: Any) -> None:
    obj = meter(meterId=value) if field == "meterId" else vehicle(vehicleId=value)

    error = rejected(obj, field)

    assert only_problem(error).field == field


@pytest.mark.parametrize("value", GOOD_IDS)
def test_device_id_of_a_path_is_returned(value: str) -> None:
    assert device_id(value, "vehicleId") == value


@pytest.mark.parametrize("value", BAD_IDS + NON_STRING_IDS)
@pytest.mark.parametrize("field", ["meterId", "vehicleId"])
def test_bad_device_id_of_a_path_is_rejected(field: str, value: Any) -> None:
    with pytest.raises(InvalidInput) as caught:
        device_id(value, field)

    assert only_problem(caught.value).field == field
    assert field in caught.value.message


# --- numbers -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("field", "value", "attribute"),
    [
        pytest.param("kwhConsumedAc", 0, "kwh_consumed_ac", id="kwhConsumedAc-0"),
        pytest.param("kwhConsumedAc", 0.001, "kwh_consumed_ac", id="kwhConsumedAc-0.001"),
        pytest.param("kwhConsumedAc", 1000, "kwh_consumed_ac", id="kwhConsumedAc-1000"),
        pytest.param("kwhDeliveredDc", 1000.0, "kwh_delivered_dc", id="kwhDeliveredDc-1000"),
        pytest.param("voltage", 0, "voltage", id="voltage-0-outage"),
        pytest.param("voltage", 230.5, "voltage", id="voltage-230.5"),
        pytest.param("voltage", 1000, "voltage", id="voltage-1000"),
        pytest.param("soc", 0, "soc", id="soc-0"),
        pytest.param("soc", 100, "soc", id="soc-100"),
        pytest.param("kwhDeliveredDc", 0, "kwh_delivered_dc", id="kwhDeliveredDc-0"),
        pytest.param("kwhDeliveredDc", 7.25, "kwh_delivered_dc", id="kwhDeliveredDc-7.25"),
        pytest.param("batteryTemp", -40, "battery_temp", id="batteryTemp--40"),
        pytest.param("batteryTemp", 0, "battery_temp", id="batteryTemp-0"),
        pytest.param("batteryTemp", 100, "battery_temp", id="batteryTemp-100"),
    ],
)
def test_number_in_range_is_accepted(field: str, value: float, attribute: str) -> None:
    reading = parse_reading(reading_with(field, value), WINDOW)

    stored = getattr(reading, attribute)
    assert stored == value
    assert isinstance(stored, float)


@pytest.mark.parametrize(
    ("field", "value", "rule"),
    [
        pytest.param("kwhConsumedAc", -0.001, "between 0 and 1000", id="kwhConsumedAc--0.001"),
        pytest.param("kwhConsumedAc", -5, "between 0 and 1000", id="kwhConsumedAc--5"),
        pytest.param("kwhConsumedAc", 1000.001, "between 0 and 1000", id="kwhConsumedAc-1000+"),
        pytest.param("kwhConsumedAc", 1.7e308, "between 0 and 1000", id="kwhConsumedAc-1.7e308"),
        pytest.param("kwhDeliveredDc", 1e300, "between 0 and 1000", id="kwhDeliveredDc-1e300"),
        pytest.param("voltage", -0.1, "between 0 and 1000", id="voltage--0.1"),
        pytest.param("voltage", 1000.1, "between 0 and 1000", id="voltage-1000.1"),
        pytest.param("soc", -0.1, "between 0 and 100", id="soc--0.1"),
        pytest.param("soc", 100.1, "between 0 and 100", id="soc-100.1"),
        pytest.param("soc", 150, "between 0 and 100", id="soc-150"),
        pytest.param("kwhDeliveredDc", -0.001, "between 0 and 1000", id="kwhDeliveredDc--0.001"),
        pytest.param("batteryTemp", -40.1, "between -40 and 100", id="batteryTemp--40.1"),
        pytest.param("batteryTemp", 100.1, "between -40 and 100", id="batteryTemp-100.1"),
    ],
)
def test_number_out_of_range_is_rejected(field: str, value: float, rule: str) -> None:
    error = rejected(reading_with(field, value), field)

    assert rule in only_problem(error).message


WRONG_TYPES = [
    pytest.param(None, "null", id="null"),
    pytest.param(True, "a boolean", id="true"),
    pytest.param(False, "a boolean", id="false"),
    pytest.param("1.5", "a string", id="numeric-string"),
    pytest.param("", "a string", id="empty-string"),
    pytest.param([1.5], "an array", id="array"),
    pytest.param({"value": 1.5}, "an object", id="object"),
]


@pytest.mark.parametrize(("value", "described"), WRONG_TYPES)
@pytest.mark.parametrize("field", NUMERIC_FIELDS)
def test_non_number_where_a_number_is_due_is_rejected(
    field: str, value: Any, described: str
) -> None:
    error = rejected(reading_with(field, value), field)

    assert only_problem(error).message == f"must be a number, not {described}"


@pytest.mark.parametrize(
    ("token", "named"),
    [
        pytest.param("NaN", "NaN", id="NaN"),
        pytest.param("Infinity", "Infinity", id="Infinity"),
        pytest.param("-Infinity", "-Infinity", id="minus-Infinity"),
    ],
)
@pytest.mark.parametrize("field", NUMERIC_FIELDS)
def test_non_finite_json_constant_is_rejected_naming_the_field(
    field: str, token: str, named: str
) -> None:
    body = json_with_token(reading_with(field, 1.0), field, token)

    error = rejected(parse_json(body), field)

    assert only_problem(error).message == f"must be a finite number, not {named}"


@pytest.mark.parametrize(
    "token",
    [
        pytest.param("1e999", id="1e999"),
        pytest.param("-1e999", id="minus-1e999"),
        pytest.param(str(10**400), id="10-to-the-400"),
    ],
)
@pytest.mark.parametrize("field", NUMERIC_FIELDS)
def test_json_number_that_is_not_finite_as_a_float_is_rejected(field: str, token: str) -> None:
    body = json_with_token(reading_with(field, 1.0), field, token)

    error = rejected(parse_json(body), field)

    assert only_problem(error).message == "must be a finite number"


@pytest.mark.parametrize(
    "value",
    [
        pytest.param(float("nan"), id="nan"),
        pytest.param(float("inf"), id="inf"),
        pytest.param(float("-inf"), id="minus-inf"),
        pytest.param(10**400, id="int-10-to-the-400"),
        pytest.param(-(10**400), id="int-minus-10-to-the-400"),
    ],
)
@pytest.mark.parametrize("field", ["kwhConsumedAc", "kwhDeliveredDc", "voltage"])
def test_python_number_that_is_not_finite_is_rejected(field: str, value: float) -> None:
    error = rejected(reading_with(field, value), field)

    assert only_problem(error).message == "must be a finite number"


# --- timestamps ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        pytest.param("2026-02-09T10:00:00Z", datetime(2026, 2, 9, 10, 0, tzinfo=UTC), id="Z"),
        pytest.param(
            "2026-02-09T10:00:00z", datetime(2026, 2, 9, 10, 0, tzinfo=UTC), id="lowercase-z"
        ),
        pytest.param(
            "2026-02-09t10:00:00Z", datetime(2026, 2, 9, 10, 0, tzinfo=UTC), id="lowercase-t"
        ),
        pytest.param(
            "2026-02-09T10:00:00+00:00", datetime(2026, 2, 9, 10, 0, tzinfo=UTC), id="plus-zero"
        ),
        pytest.param(
            "2026-02-09T10:00:00+05:30", datetime(2026, 2, 9, 4, 30, tzinfo=UTC), id="plus-05:30"
        ),
        pytest.param(
            "2026-02-09T02:15:00+05:30",
            datetime(2026, 2, 8, 20, 45, tzinfo=UTC),
            id="plus-05:30-previous-day",
        ),
        pytest.param(
            "2026-02-09T10:00:00-08:00", datetime(2026, 2, 9, 18, 0, tzinfo=UTC), id="minus-08:00"
        ),
        pytest.param(
            "2026-02-09T20:30:00-08:00",
            datetime(2026, 2, 10, 4, 30, tzinfo=UTC),
            id="minus-08:00-next-day",
        ),
        pytest.param(
            "2026-02-09T10:00:00.5Z",
            datetime(2026, 2, 9, 10, 0, 0, 500_000, tzinfo=UTC),
            id="fraction-1-digit",
        ),
        pytest.param(
            "2026-02-09T10:00:00.123Z",
            datetime(2026, 2, 9, 10, 0, 0, 123_000, tzinfo=UTC),
            id="fraction-3-digits",
        ),
        pytest.param(
            "2026-02-09T10:00:00.123456Z",
            datetime(2026, 2, 9, 10, 0, 0, 123_456, tzinfo=UTC),
            id="fraction-6-digits",
        ),
        pytest.param(
            "2026-02-09T10:00:00.123456789Z",
            datetime(2026, 2, 9, 10, 0, 0, 123_456, tzinfo=UTC),
            id="fraction-9-digits-truncated",
        ),
        pytest.param(
            "2026-02-09T10:00:00.999999999+01:00",
            datetime(2026, 2, 9, 9, 0, 0, 999_999, tzinfo=UTC),
            id="fraction-9-nines-truncated-not-rounded",
        ),
        pytest.param(
            "2024-02-29T23:59:59Z",
            datetime(2024, 2, 29, 23, 59, 59, tzinfo=UTC),
            id="leap-day",
        ),
    ],
)
def test_rfc3339_timestamp_is_converted_to_utc(text: str, expected: datetime) -> None:
    window = Window(
        now=datetime(2026, 2, 10, 12, 0, tzinfo=UTC),
        max_ahead=timedelta(minutes=5),
        max_age=timedelta(days=3650),
    )

    reading = parse_reading(meter(timestamp=text), window)

    assert reading.ts == expected
    assert reading.ts.tzinfo is UTC
    assert reading.ts.utcoffset() == timedelta(0)


@pytest.mark.parametrize(
    ("value", "message"),
    [
        pytest.param("2026-02-09T10:00:00", "needs a UTC offset", id="no-offset"),
        pytest.param("2026-02-09T10:00:00.123", "needs a UTC offset", id="fraction-no-offset"),
        pytest.param("2026-02-09", "must be an RFC 3339", id="date-only"),
        pytest.param("10:00:00Z", "must be an RFC 3339", id="time-only"),
        pytest.param("2026-02-09T10:00Z", "must be an RFC 3339", id="no-seconds"),
        pytest.param("2026-02-09T10:00:00+0530", "must be an RFC 3339", id="offset-no-colon"),
        pytest.param("2026-02-09T10:00:00+05", "must be an RFC 3339", id="offset-hours-only"),
        pytest.param("2026-02-09T10:00:00.Z", "must be an RFC 3339", id="empty-fraction"),
        pytest.param("2026-02-09T10:00:00Z ", "must be an RFC 3339", id="trailing-space"),
        pytest.param("2026-02-09T10:00:00Z\n", "must be an RFC 3339", id="trailing-newline"),
        pytest.param("2026-2-9T10:00:00Z", "must be an RFC 3339", id="single-digit-month"),
        pytest.param("1770631200", "must be an RFC 3339", id="epoch-as-string"),
        pytest.param("", "must be an RFC 3339", id="empty-string"),
        pytest.param(
            "\u0662\u0660\u0662\u0666-02-09T10:00:00Z",
            "must be an RFC 3339",
            id="arabic-indic-digits",
        ),
        pytest.param(
            "2026-02-09T\uff11\uff10:00:00Z", "must be an RFC 3339", id="fullwidth-digits"
        ),
        pytest.param("2026-02-30T10:00:00Z", "not a real calendar date", id="february-30"),
        pytest.param("2025-02-29T10:00:00Z", "not a real calendar date", id="not-a-leap-year"),
        pytest.param("2026-13-01T00:00:00Z", "not a real calendar date", id="month-13"),
        pytest.param("2026-00-10T00:00:00Z", "not a real calendar date", id="month-0"),
        pytest.param("2026-02-00T00:00:00Z", "not a real calendar date", id="day-0"),
        pytest.param("2026-02-09T24:00:00Z", "not a real calendar date", id="hour-24"),
        pytest.param("2026-02-09T10:60:00Z", "not a real calendar date", id="minute-60"),
        pytest.param("2026-02-09T10:00:00+24:00", "not a real calendar date", id="offset-24h"),
        pytest.param("2026-02-09T10:00:00+05:60", "not a real calendar date", id="offset-60min"),
        pytest.param(1770631200, "must be an RFC 3339 date-time string", id="number"),
        pytest.param(None, "must be an RFC 3339 date-time string", id="null"),
        pytest.param(True, "must be an RFC 3339 date-time string", id="boolean"),
    ],
)
def test_bad_timestamp_is_rejected(value: Any, message: str) -> None:
    error = rejected(meter(timestamp=value), "timestamp")

    assert message in only_problem(error).message


@pytest.mark.parametrize(
    "offset",
    [
        pytest.param(timedelta(minutes=4), id="4-min-ahead"),
        pytest.param(timedelta(minutes=5), id="exactly-5-min-ahead"),
        pytest.param(timedelta(0), id="now"),
        pytest.param(-timedelta(days=29), id="29-days-old"),
        pytest.param(-timedelta(days=29, hours=23, minutes=59), id="almost-30-days-old"),
    ],
)
def test_timestamp_inside_the_window_is_accepted(offset: timedelta) -> None:
    ts = NOW + offset

    reading = parse_reading(vehicle(timestamp=ts.isoformat()), WINDOW)

    assert reading.ts == ts


@pytest.mark.parametrize(
    ("offset", "message"),
    [
        pytest.param(timedelta(minutes=6), "ahead of the server's clock", id="6-min-ahead"),
        pytest.param(
            timedelta(minutes=5, microseconds=1), "ahead of the server's clock", id="5-min-and-1us"
        ),
        pytest.param(timedelta(days=1), "ahead of the server's clock", id="1-day-ahead"),
        pytest.param(-timedelta(days=31), "older than the 30-day retention", id="31-days-old"),
        pytest.param(-timedelta(days=400), "older than the 30-day retention", id="400-days-old"),
    ],
)
def test_timestamp_outside_the_window_is_rejected(offset: timedelta, message: str) -> None:
    ts = NOW + offset

    error = rejected(vehicle(timestamp=ts.isoformat()), "timestamp")

    assert message in only_problem(error).message


def test_window_is_compared_in_utc_whatever_the_offset() -> None:
    # 12:04 UTC written in New York time is 4 minutes ahead: accepted; 12:06 is not.
    assert parse_reading(meter(timestamp="2026-02-10T07:04:00-05:00"), WINDOW).ts == NOW + (
        timedelta(minutes=4)
    )
    rejected(meter(timestamp="2026-02-10T07:06:00-05:00"), "timestamp")


# --- parse_json ----------------------------------------------------------------------------


def test_parse_json_returns_the_document() -> None:
    assert parse_json(b'{"a": [1, 2.5, "x", null, true]}') == {"a": [1, 2.5, "x", None, True]}


@pytest.mark.parametrize(
    "body",
    [
        pytest.param(b"\xff\xfe{}", id="invalid-utf8"),
        pytest.param(b'{"meterId": "m\xe9"}', id="latin1-byte"),
        pytest.param(b'{"meterId": "\xed\xa0\x80"}', id="utf8-encoded-surrogate"),
    ],
)
def test_parse_json_rejects_invalid_utf8(body: bytes) -> None:
    with pytest.raises(InvalidInput) as caught:
        parse_json(body)

    assert "UTF-8" in caught.value.message


@pytest.mark.parametrize(
    "body",
    [
        pytest.param(b"", id="empty"),
        pytest.param(b"   ", id="whitespace"),
        pytest.param(b'{"meterId": ', id="truncated"),
        pytest.param(b"{'meterId': 'm1'}", id="single-quotes"),
        pytest.param(b'{"meterId": "m1",}', id="trailing-comma"),
        pytest.param(b"{} {}", id="two-documents"),
        pytest.param(b"\xef\xbb\xbf{}", id="byte-order-mark"),
        pytest.param(b"undefined", id="bare-word"),
    ],
)
def test_parse_json_rejects_malformed_json(body: bytes) -> None:
    with pytest.raises(InvalidInput) as caught:
        parse_json(body)

    assert "not valid JSON" in caught.value.message


@pytest.mark.parametrize(
    ("body", "key"),
    [
        pytest.param(b'{"meterId": "a", "meterId": "b"}', "meterId", id="top-level"),
        pytest.param(b'{"voltage": 1, "x": 2, "voltage": 1}', "voltage", id="same-value"),
        pytest.param(b'[{"soc": 1}, {"soc": 1, "soc": 2}]', "soc", id="inside-a-batch"),
        pytest.param(b'{"outer": {"inner": 1, "inner": 2}}', "inner", id="nested"),
    ],
)
def test_parse_json_rejects_duplicate_keys_naming_the_key(body: bytes, key: str) -> None:
    with pytest.raises(InvalidInput) as caught:
        parse_json(body)

    assert caught.value.problems == (Problem(key, "appears more than once"),)
    assert repr(key) in caught.value.message


@pytest.mark.parametrize(
    "body",
    [
        pytest.param(b"\xff", id="invalid-utf8"),
        pytest.param(b"{", id="malformed"),
        pytest.param(b'{"a": 1, "a": 2}', id="duplicate-key"),
    ],
)
def test_parse_json_messages_are_sentences(body: bytes) -> None:
    with pytest.raises(InvalidInput) as caught:
        parse_json(body)

    assert is_sentence(caught.value.message), caught.value.message
    assert str(caught.value) == caught.value.message


@pytest.mark.parametrize(
    "call",
    [
        pytest.param(lambda: parse_reading(meter(voltage=-1), WINDOW), id="reading"),
        pytest.param(
            lambda: parse_reading(meter(voltage=-1, kwhConsumedAc=-1), WINDOW),
            id="reading-two-problems",
        ),
        pytest.param(lambda: parse_reading([], WINDOW), id="reading-not-object"),
        pytest.param(lambda: parse_batch([], WINDOW), id="batch-empty"),
        pytest.param(lambda: parse_batch({}, WINDOW), id="batch-not-array"),
        pytest.param(lambda: parse_batch([meter(), meter(voltage=-1)], WINDOW), id="batch-item"),
        pytest.param(lambda: parse_link({"vehicleId": "v1"}), id="link"),
        pytest.param(lambda: parse_link([]), id="link-not-object"),
        pytest.param(lambda: parse_hours("0"), id="hours"),
    ],
)
def test_other_messages_are_sentences(call: Callable[[], object]) -> None:
    with pytest.raises(InvalidInput) as caught:
        call()

    assert is_sentence(caught.value.message), caught.value.message


# --- parse_ndjson --------------------------------------------------------------------------


@pytest.mark.parametrize(
    "body",
    [
        pytest.param(b'{"n": 0}\n{"n": 1}\n{"n": 2}', id="no-trailing-newline"),
        pytest.param(b'{"n": 0}\n{"n": 1}\n{"n": 2}\n', id="trailing-newline"),
        pytest.param(b'{"n": 0}\r\n{"n": 1}\r\n{"n": 2}\r\n', id="crlf"),
        pytest.param(b'\n\n{"n": 0}\n\n{"n": 1}\n   \n{"n": 2}\n\n', id="blank-lines"),
        pytest.param(b'{"n": 0}\r\n\r\n\t\r\n{"n": 1}\n{"n": 2}', id="blank-crlf-and-tab"),
    ],
)
def test_parse_ndjson_skips_blank_lines(body: bytes) -> None:
    assert parse_ndjson(body) == [{"n": 0}, {"n": 1}, {"n": 2}]


@pytest.mark.parametrize(
    "body", [pytest.param(b"", id="empty"), pytest.param(b"\n\r\n  \n", id="blank-only")]
)
def test_parse_ndjson_of_nothing_is_an_empty_list_that_a_batch_refuses(body: bytes) -> None:
    items = parse_ndjson(body)

    assert items == []
    with pytest.raises(InvalidInput):
        parse_batch(items, WINDOW)


def test_parse_ndjson_reports_a_bad_line_with_its_reading_index() -> None:
    good = json.dumps(meter()).encode()
    body = b"\n".join([good, b"", good, b"{not json", good, b""])

    with pytest.raises(InvalidInput) as caught:
        parse_ndjson(body)

    (problem,) = caught.value.problems
    assert problem.index == 2  # blank lines are not readings, so they take no index
    assert problem.field == "body"
    assert "not a valid JSON line" in problem.message
    assert caught.value.message.startswith("1 of 4 readings is invalid")


def test_parse_ndjson_reports_every_bad_line() -> None:
    body = b'{"a": 1}\n[\n{"a": 1}\n{"b": 1, "b": 2}\n\xff\n'

    with pytest.raises(InvalidInput) as caught:
        parse_ndjson(body)

    assert [p.index for p in caught.value.problems] == [1, 3, 4]
    assert "'b'" in caught.value.problems[1].message
    assert "UTF-8" in caught.value.problems[2].message
    assert caught.value.message.startswith("3 of 5 readings are invalid")


def test_parse_ndjson_stops_at_the_hundredth_bad_line() -> None:
    body = b"[\n" * 5_000

    with pytest.raises(InvalidInput) as caught:
        parse_ndjson(body)

    assert [p.index for p in caught.value.problems] == list(range(100))
    assert caught.value.message.startswith("At least 100 of 5000 readings are invalid")


def test_parse_batch_over_ndjson_items() -> None:
    body = "\r\n".join(
        [
            json.dumps(meter(meterId="m1")),
            json.dumps(vehicle(vehicleId="v1")),
            "",
            json.dumps(meter(meterId="m2", voltage=0)),
            "",
        ]
    ).encode()

    readings = parse_batch(parse_ndjson(body), WINDOW)

    assert [(r.kind, r.device_id) for r in readings] == [
        ("meter", "m1"),
        ("vehicle", "v1"),
        ("meter", "m2"),
    ]


def test_parse_batch_over_ndjson_items_indexes_a_bad_reading() -> None:
    body = b"\n".join(
        [
            json.dumps(meter()).encode(),
            json.dumps(vehicle(soc=101)).encode(),
        ]
    )

    with pytest.raises(InvalidInput) as caught:
        parse_batch(parse_ndjson(body), WINDOW)

    assert caught.value.problems == (Problem("soc", "must be between 0 and 100", 1),)


def test_parse_ndjson_names_the_field_of_a_non_finite_number_once_parsed() -> None:
    body = json_with_token(meter(), "voltage", "NaN")

    with pytest.raises(InvalidInput) as caught:
        parse_batch(parse_ndjson(body + b"\n"), WINDOW)

    assert caught.value.problems == (Problem("voltage", "must be a finite number, not NaN", 0),)


# --- parse_batch ---------------------------------------------------------------------------


def test_batch_of_mixed_meters_and_vehicles_keeps_order_and_kinds() -> None:
    items = [meter(meterId="m1"), vehicle(vehicleId="v1"), vehicle(vehicleId="v2"), meter()]

    readings = parse_batch(items, WINDOW)

    assert [type(r) for r in readings] == [
        MeterReading,
        VehicleReading,
        VehicleReading,
        MeterReading,
    ]
    assert [r.device_id for r in readings] == ["m1", "v1", "v2", "meter-001"]


@pytest.mark.parametrize("size", [pytest.param(1, id="1"), pytest.param(MAX_BATCH, id="10000")])
def test_batch_within_size_is_accepted(size: int) -> None:
    assert MAX_BATCH == 10_000
    items = [meter(meterId=f"m{i}") for i in range(size)]

    readings = parse_batch(items, WINDOW)

    assert len(readings) == size
    assert readings[-1].device_id == f"m{size - 1}"


@pytest.mark.parametrize(
    "size", [pytest.param(0, id="empty"), pytest.param(MAX_BATCH + 1, id="10001")]
)
def test_batch_outside_size_is_rejected(size: int) -> None:
    with pytest.raises(InvalidInput) as caught:
        parse_batch([meter()] * size, WINDOW)

    assert f"this one has {size}" in caught.value.message
    assert "1 to 10000" in caught.value.message


@pytest.mark.parametrize(
    ("items", "described"),
    [
        pytest.param(meter(), "an object", id="object"),
        pytest.param(None, "null", id="null"),
        pytest.param("[]", "a string", id="string"),
        pytest.param(3, "a number", id="number"),
    ],
)
def test_batch_that_is_not_an_array_is_rejected(items: Any, described: str) -> None:
    with pytest.raises(InvalidInput) as caught:
        parse_batch(items, WINDOW)

    assert "JSON array" in caught.value.message
    assert f"not {described}" in caught.value.message


def test_batch_with_one_bad_item_is_rejected_with_its_index() -> None:
    items: list[Any] = [meter(), vehicle(), meter(), meter(voltage=1000.1), vehicle()]

    with pytest.raises(InvalidInput) as caught:
        parse_batch(items, WINDOW)

    assert caught.value.problems == (Problem("voltage", "must be between 0 and 1000", 3),)
    assert caught.value.message.startswith("1 of 5 readings is invalid, so none was stored")
    assert "item 3: voltage" in caught.value.message


def test_batch_counts_bad_items_not_problems() -> None:
    items: list[Any] = [
        meter(voltage=-1, kwhConsumedAc=-1),
        meter(),
        "not an object",
        vehicle(soc=None, batteryTemp=500),
    ]

    with pytest.raises(InvalidInput) as caught:
        parse_batch(items, WINDOW)

    assert sorted((p.index or 0, p.field) for p in caught.value.problems) == [
        (0, "kwhConsumedAc"),
        (0, "voltage"),
        (2, "body"),
        (3, "batteryTemp"),
        (3, "soc"),
    ]
    assert caught.value.message.startswith("3 of 4 readings are invalid")


def test_batch_lists_at_most_100_problems_and_stops_checking_there() -> None:
    assert MAX_PROBLEMS == 100
    items = [meter(meterId=f"m{i}", soc=1) for i in range(150)] + [meter()]

    with pytest.raises(InvalidInput) as caught:
        parse_batch(items, WINDOW)

    problems = caught.value.problems
    assert len(problems) == MAX_PROBLEMS
    assert [p.index for p in problems] == list(range(100))
    assert {p.field for p in problems} == {"soc"}
    assert caught.value.message.startswith("At least 100 of 151 readings are invalid")


def test_a_batch_whose_last_reading_makes_the_hundredth_problem_counts_exactly() -> None:
    items = [meter()] * 50 + [meter(meterId=f"m{i}", soc=1) for i in range(100)]

    with pytest.raises(InvalidInput) as caught:
        parse_batch(items, WINDOW)

    assert caught.value.message.startswith("100 of 150 readings are invalid")


# --- links ---------------------------------------------------------------------------------


def test_link_is_parsed() -> None:
    assert parse_link({"vehicleId": "v-1", "meterId": "m.1"}) == Link("v-1", "m.1")


def test_link_from_json_is_parsed() -> None:
    assert parse_link(parse_json(b'{"meterId": "m1", "vehicleId": "v1"}')) == Link("v1", "m1")


@pytest.mark.parametrize(
    ("obj", "field", "message"),
    [
        pytest.param({"meterId": "m1"}, "vehicleId", "is required", id="missing-vehicleId"),
        pytest.param({"vehicleId": "v1"}, "meterId", "is required", id="missing-meterId"),
        pytest.param(
            {"vehicleId": "-v1", "meterId": "m1"}, "vehicleId", "must be 1 to 64", id="bad-vehicle"
        ),
        pytest.param(
            {"vehicleId": "v1", "meterId": "m" * 65}, "meterId", "must be 1 to 64", id="bad-meter"
        ),
        pytest.param(
            {"vehicleId": "v1", "meterId": 7}, "meterId", "must be a string", id="meter-number"
        ),
        pytest.param(
            {"vehicleId": "v1", "meterId": "m1", "linkedAt": "now"},
            "linkedAt",
            "is not a field of a link",
            id="unknown-field",
        ),
    ],
)
def test_bad_link_is_rejected(obj: dict[str, Any], field: str, message: str) -> None:
    with pytest.raises(InvalidInput) as caught:
        parse_link(obj)

    problem = only_problem(caught.value)
    assert problem.field == field
    assert message in problem.message
    assert field in caught.value.message


def test_link_lists_every_problem() -> None:
    with pytest.raises(InvalidInput) as caught:
        parse_link({"extra": 1})

    assert {p.field for p in caught.value.problems} == {"extra", "vehicleId", "meterId"}


@pytest.mark.parametrize(
    "obj",
    [pytest.param([], id="array"), pytest.param(None, id="null"), pytest.param("x", id="str")],
)
def test_link_that_is_not_an_object_is_rejected(obj: Any) -> None:
    with pytest.raises(InvalidInput) as caught:
        parse_link(obj)

    assert "must be a JSON object" in caught.value.message


# --- hours ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "hours"),
    [
        pytest.param(None, 24, id="absent-default-24"),
        pytest.param("1", 1, id="1"),
        pytest.param("24", 24, id="24"),
        pytest.param("720", 720, id="720"),
        pytest.param("0720", 720, id="leading-zero"),
    ],
)
def test_hours_are_accepted(raw: str | None, hours: int) -> None:
    assert parse_hours(raw) == hours


def test_hours_default_is_configurable() -> None:
    assert parse_hours(None, default=48) == 48
    assert parse_hours("3", default=48) == 3


@pytest.mark.parametrize(
    "raw",
    [
        pytest.param("0", id="0"),
        pytest.param("721", id="721"),
        pytest.param("-1", id="negative"),
        pytest.param("+1", id="plus-sign"),
        pytest.param("1.5", id="fraction"),
        pytest.param("1e2", id="exponent"),
        pytest.param("abc", id="letters"),
        pytest.param("", id="empty"),
        pytest.param(" 1", id="leading-space"),
        pytest.param("1\n", id="trailing-newline"),
        pytest.param("\u0661", id="arabic-indic-one"),
        pytest.param("\u00b9", id="superscript-one"),
        pytest.param("99999999999999999999", id="huge"),
    ],
)
def test_bad_hours_are_rejected(raw: str) -> None:
    with pytest.raises(InvalidInput) as caught:
        parse_hours(raw)

    assert caught.value.problems == (Problem("hours", "must be a whole number from 1 to 720"),)
    assert "hours" in caught.value.message


@pytest.mark.parametrize("body", [b"[" * 100_000, b'{"a":' * 100_000], ids=["arrays", "objects"])
def test_parse_json_refuses_deep_nesting_instead_of_crashing(body: bytes) -> None:
    with pytest.raises(InvalidInput) as caught:
        parse_json(body)
    assert "deeply" in caught.value.message


# --- fast and precise paths ----------------------------------------------------------------
#
# Each parser first tries a fast path that accepts only what is certainly valid, and hands all
# else to the precise path. These tests hold the two to the same verdicts, the same values (down
# to types, the sign of zero and the time zone) and the same messages, on the inputs where a
# faster JSON decoder or a shortcut check could part from them.

METER_TOKENS = {
    "meterId": '"m-1"',
    "kwhConsumedAc": "1.5",
    "voltage": "230",
    "timestamp": f'"{TS_TEXT}"',
}
VEHICLE_TOKENS = {
    "vehicleId": '"v-1"',
    "soc": "55",
    "kwhDeliveredDc": "1.2",
    "batteryTemp": "31.5",
    "timestamp": f'"{TS_TEXT}"',
}
WIDE_WINDOW = Window(now=NOW, max_ahead=timedelta(minutes=5), max_age=timedelta(days=36_500))


def _object_text(base: dict[str, str], more: tuple[str, ...], tokens: dict[str, str]) -> str:
    members = [f'"{key}": {value}' for key, value in {**base, **tokens}.items()]
    return "{" + ", ".join([*members, *more]) + "}"


def meter_json(*more: str, **tokens: str) -> str:
    """A meter reading as JSON text: ``tokens`` are raw JSON values, ``more`` raw members."""
    return _object_text(METER_TOKENS, more, tokens)


def vehicle_json(*more: str, **tokens: str) -> str:
    """A vehicle reading as JSON text: ``tokens`` are raw JSON values, ``more`` raw members."""
    return _object_text(VEHICLE_TOKENS, more, tokens)


def array(*texts: str) -> bytes:
    return ("[" + ", ".join(texts) + "]").encode()


def lines(*texts: str) -> bytes:
    return "\n".join(texts).encode()


def stamp(text: str) -> str:
    return json.dumps(text, ensure_ascii=False)


TRICKY_BODIES = [
    # plain, and written in every way JSON allows
    pytest.param(meter_json().encode(), id="meter"),
    pytest.param(array(meter_json(), vehicle_json()), id="batch"),
    pytest.param(lines(meter_json(), "", vehicle_json(), " \t\r", ""), id="ndjson-blank-lines"),
    pytest.param(lines(meter_json() + "\r", vehicle_json() + "\r"), id="ndjson-crlf"),
    pytest.param(
        b' \t\r\n[ \n{ "meterId" \t:\r\n"m-1" ,"kwhConsumedAc":1.5,\n"voltage"  :  230 ,'
        b'"timestamp":"2026-02-09T10:00:00Z"\t}\r\n, \n' + vehicle_json().encode() + b" ] \n",
        id="whitespace-everywhere",
    ),
    pytest.param(meter_json().encode().replace(b", ", b","), id="compact"),
    pytest.param(b"\x0c" + meter_json().encode(), id="form-feed-is-not-json-whitespace"),
    pytest.param("\u00a0".encode() + meter_json().encode(), id="nbsp-is-not-json-whitespace"),
    pytest.param(b"\xef\xbb\xbf" + meter_json().encode(), id="byte-order-mark"),
    # duplicate keys, which msgspec would silently resolve
    pytest.param(array(meter_json(), vehicle_json('"soc": 56')), id="duplicate-in-batch-item"),
    pytest.param(array(meter_json('"voltage": 230')), id="duplicate-same-value"),
    pytest.param(array(meter_json('"meterId": "m-2"')), id="duplicate-string-value"),
    pytest.param(array(meter_json('"timestamp": "2026-02-09T10:00:01Z"')), id="duplicate-colons"),
    pytest.param(meter_json('"x": 1', '"x": "a:b"').encode(), id="duplicate-unknown-field"),
    pytest.param(meter_json('"\\u006deterId": "m-2"').encode(), id="duplicate-by-escape"),
    pytest.param(lines(meter_json(), vehicle_json('"soc": 1')), id="duplicate-ndjson-line"),
    pytest.param(b'[{"a": {"b": 1, "b": 2}}]', id="duplicate-nested"),
    # escapes, which the fast path leaves to the precise one
    pytest.param(meter_json().replace('"meterId"', '"\\u006deterId"').encode(), id="key-escape"),
    pytest.param(meter_json().replace('"m-1"', '"\\u0041"').encode(), id="id-escape"),
    pytest.param(meter_json(meterId='"m\\/1"').encode(), id="id-escaped-slash"),
    pytest.param(meter_json(meterId='"\\ud800"').encode(), id="id-lone-surrogate"),
    pytest.param(meter_json(meterId='"\\udc00\\ud800"').encode(), id="id-reversed-surrogates"),
    pytest.param(meter_json(meterId='"\\ud83d\\ude00"').encode(), id="id-surrogate-pair"),
    pytest.param(meter_json(meterId='"m\\u0000"').encode(), id="id-escaped-nul"),
    pytest.param(meter_json(meterId='"\U0001f600"').encode(), id="id-raw-emoji"),
    pytest.param(meter_json(meterId='"a:b:c"').encode(), id="id-with-colons"),
    pytest.param(meter_json(meterId='"m\x011"').encode(), id="id-raw-control-character"),
    pytest.param(meter_json(meterId='"m\xe9"').encode("latin-1"), id="id-latin1-byte"),
    pytest.param(meter_json(meterId='"m\\"1"').encode(), id="id-escaped-quote"),
    pytest.param(meter_json('"x": "\\""', '"x": 1').encode(), id="duplicate-and-escaped-quote"),
    pytest.param(meter_json(meterId='"m\\u00e9"').encode(), id="id-escaped-e-acute"),
    pytest.param(meter_json(meterId='"\\ud800\\u0041"').encode(), id="id-surrogate-then-a"),
    pytest.param(meter_json(meterId='"m\\x41"').encode(), id="id-invalid-escape"),
    # numbers
    pytest.param(array(meter_json(), meter_json(voltage="NaN")), id="nan-in-batch"),
    pytest.param(vehicle_json(soc="Infinity").encode(), id="infinity"),
    pytest.param(vehicle_json(batteryTemp="-Infinity").encode(), id="minus-infinity"),
    pytest.param(vehicle_json(soc="-NaN").encode(), id="minus-nan"),
    pytest.param(meter_json(voltage="true").encode(), id="true"),
    pytest.param(vehicle_json(soc="false").encode(), id="false"),
    pytest.param(vehicle_json(soc="null").encode(), id="null"),
    pytest.param(meter_json(voltage='"230"').encode(), id="numeric-string"),
    pytest.param(meter_json(kwhConsumedAc="-0").encode(), id="minus-0-integer"),
    pytest.param(meter_json(kwhConsumedAc="-0.0").encode(), id="minus-0-float"),
    pytest.param(meter_json(kwhConsumedAc="-0e0").encode(), id="minus-0-exponent"),
    pytest.param(vehicle_json(batteryTemp="-0").encode(), id="minus-0-temperature"),
    pytest.param(meter_json(kwhConsumedAc="1e400").encode(), id="1e400"),
    pytest.param(meter_json(voltage="-1e400").encode(), id="minus-1e400"),
    pytest.param(meter_json(kwhConsumedAc="1e-400").encode(), id="1e-400"),
    pytest.param(meter_json(kwhConsumedAc="1" + "0" * 400).encode(), id="10-to-the-400"),
    pytest.param(meter_json(kwhConsumedAc="1" * 4300).encode(), id="4300-digits"),
    pytest.param(meter_json(kwhConsumedAc="1" * 4301).encode(), id="4301-digits"),
    pytest.param(vehicle_json(soc="18446744073709551616").encode(), id="2-to-the-64"),
    pytest.param(meter_json(kwhConsumedAc="1.7976931348623157e308").encode(), id="max-float"),
    pytest.param(meter_json(kwhConsumedAc="1.7976931348623159e308").encode(), id="past-max"),
    pytest.param(meter_json(voltage="1000.0000000000001").encode(), id="voltage-just-over"),
    pytest.param(meter_json(voltage="1000.00000000000001").encode(), id="voltage-rounds-to-1000"),
    pytest.param(vehicle_json(batteryTemp="-40.000000000000001").encode(), id="temp-rounds-to-40"),
    pytest.param(meter_json(voltage="2.2250738585072011e-308").encode(), id="subnormal-boundary"),
    pytest.param(meter_json(voltage="0.1000000000000000055511151231257827").encode(), id="long"),
    pytest.param(meter_json(kwhConsumedAc="-1e-9").encode(), id="kwh-just-below-0"),
    pytest.param(meter_json(voltage="-0.05").encode(), id="voltage-just-below-0"),
    pytest.param(vehicle_json(soc="-0.05").encode(), id="soc-just-below-0"),
    pytest.param(vehicle_json(soc="100.05").encode(), id="soc-just-over-100"),
    pytest.param(vehicle_json(soc="100").encode(), id="soc-100"),
    pytest.param(vehicle_json(kwhDeliveredDc="-0.05").encode(), id="kwh-dc-just-below-0"),
    pytest.param(vehicle_json(kwhDeliveredDc="1e308").encode(), id="kwh-dc-huge"),
    pytest.param(vehicle_json(batteryTemp="-40").encode(), id="temp-minus-40"),
    pytest.param(vehicle_json(batteryTemp="-40.05").encode(), id="temp-just-below-40"),
    pytest.param(vehicle_json(batteryTemp="100.05").encode(), id="temp-just-over-100"),
    pytest.param(meter_json(voltage="01").encode(), id="leading-zero"),
    pytest.param(meter_json(voltage="1.").encode(), id="bare-point"),
    pytest.param(meter_json(voltage="+1").encode(), id="plus-sign"),
    # timestamps
    pytest.param(meter_json(timestamp=stamp("2026-02-09t10:00:00z")).encode(), id="lower-t-z"),
    pytest.param(meter_json(timestamp=stamp("2026-02-09 10:00:00Z")).encode(), id="space"),
    pytest.param(meter_json(timestamp=stamp("2026-02-09_10:00:00Z")).encode(), id="underscore"),
    pytest.param(meter_json(timestamp=stamp("2026-02-09X10:00:00Z")).encode(), id="letter-x"),
    pytest.param(meter_json(timestamp=stamp("2026-02-09\u00e910:00:00Z")).encode(), id="e-acute"),
    pytest.param(meter_json(timestamp=stamp("2026-02-09T10:00:00+23:59")).encode(), id="+23:59"),
    pytest.param(meter_json(timestamp=stamp("2026-02-09T10:00:00-23:59")).encode(), id="-23:59"),
    pytest.param(meter_json(timestamp=stamp("2026-02-09T10:00:00-00:00")).encode(), id="-00:00"),
    pytest.param(meter_json(timestamp=stamp("2026-02-09T10:00:00+24:00")).encode(), id="+24:00"),
    pytest.param(meter_json(timestamp=stamp("2026-02-09T10:00:00+05:60")).encode(), id="+05:60"),
    pytest.param(meter_json(timestamp=stamp("2026-02-09T10:00:00+0530")).encode(), id="+0530"),
    pytest.param(meter_json(timestamp=stamp("2026-02-09T10:00:00+05")).encode(), id="+05"),
    pytest.param(meter_json(timestamp=stamp("2026-02-09T10:00:00+05:30:00")).encode(), id="secs"),
    pytest.param(meter_json(timestamp=stamp("2026-02-09T24:00:00Z")).encode(), id="hour-24"),
    pytest.param(meter_json(timestamp=stamp("2026-02-09T10:60:00Z")).encode(), id="minute-60"),
    pytest.param(meter_json(timestamp=stamp("2026-02-09T23:59:60Z")).encode(), id="leap-second"),
    pytest.param(meter_json(timestamp=stamp("2025-02-29T10:00:00Z")).encode(), id="feb-29-2025"),
    pytest.param(meter_json(timestamp=stamp("2024-02-29T10:00:00Z")).encode(), id="feb-29-2024"),
    pytest.param(meter_json(timestamp=stamp("2026-04-31T10:00:00Z")).encode(), id="april-31"),
    pytest.param(meter_json(timestamp=stamp("0000-01-01T00:00:00Z")).encode(), id="year-0"),
    pytest.param(meter_json(timestamp=stamp("0001-01-01T00:00:00+01:00")).encode(), id="year-1"),
    pytest.param(meter_json(timestamp=stamp("9999-12-31T23:59:59-01:00")).encode(), id="year-1e4"),
    pytest.param(meter_json(timestamp=stamp("2026-02-09T10:00:00.1Z")).encode(), id="fraction-1"),
    pytest.param(meter_json(timestamp=stamp("2026-02-09T10:00:00.12Z")).encode(), id="fraction-2"),
    pytest.param(meter_json(timestamp=stamp("2026-02-09T10:00:00.1234Z")).encode(), id="frac-4"),
    pytest.param(meter_json(timestamp=stamp("2026-02-09T10:00:00.12345Z")).encode(), id="frac-5"),
    pytest.param(meter_json(timestamp=stamp("2026-02-09T10:00:00.999999Z")).encode(), id="frac-6"),
    pytest.param(
        meter_json(timestamp=stamp("2026-02-09T10:00:00.9999999+05:30")).encode(), id="frac-7"
    ),
    pytest.param(
        meter_json(timestamp=stamp("2026-02-09T10:00:00." + "9" * 40 + "Z")).encode(),
        id="fraction-40",
    ),
    pytest.param(meter_json(timestamp=stamp("2026-02-09T10:00:00,5Z")).encode(), id="comma"),
    pytest.param(meter_json(timestamp=stamp("20260209T100000Z")).encode(), id="basic-format"),
    pytest.param(meter_json(timestamp=stamp("2026-W06-1T10:00:00Z")).encode(), id="week-date"),
    pytest.param(meter_json(timestamp=stamp("2026-02-09T10:00:00")).encode(), id="no-offset"),
    pytest.param(meter_json(timestamp=stamp("2026-02-09T10:00Z")).encode(), id="no-seconds"),
    pytest.param(meter_json(timestamp=stamp("2026-02-09T1\uff10:00:00Z")).encode(), id="fullwidth"),
    pytest.param(meter_json(timestamp="1770631200").encode(), id="epoch-number"),
    pytest.param(meter_json(timestamp=stamp("2026-02-10T12:05:00Z")).encode(), id="max-ahead"),
    pytest.param(
        meter_json(timestamp=stamp("2026-02-10T12:05:00.000001Z")).encode(), id="past-max-ahead"
    ),
    pytest.param(
        meter_json(timestamp=stamp("2026-02-10T17:35:00+05:30")).encode(), id="max-ahead-offset"
    ),
    pytest.param(meter_json(timestamp=stamp("2026-01-11T12:00:00Z")).encode(), id="max-age"),
    pytest.param(
        meter_json(timestamp=stamp("2026-01-11T11:59:59.999999Z")).encode(), id="past-max-age"
    ),
    # shapes
    pytest.param(meter_json(vehicleId='"v-1"').encode(), id="both-ids"),
    pytest.param(
        meter_json(meterId='"m-1"').replace('"meterId": "m-1", ', "").encode(), id="no-id"
    ),
    pytest.param(meter_json('"soc": 50').encode(), id="field-of-the-other-kind"),
    pytest.param(vehicle_json(kwhDeliveredDc="1", kwhConsumedAc="1").encode(), id="five-wrong"),
    pytest.param(meter_json(voltage="[230]").encode(), id="array-value"),
    pytest.param(meter_json(voltage='{"v": 230}').encode(), id="object-value"),
    pytest.param(b"{}", id="empty-object"),
    pytest.param(b"[]", id="empty-array"),
    pytest.param(b"[[]]", id="array-of-array"),
    pytest.param(b'"m-1"', id="string"),
    pytest.param(b"42", id="number"),
    pytest.param(array(meter_json(), "42"), id="number-in-batch"),
    pytest.param(lines(meter_json(), array(vehicle_json()).decode()), id="ndjson-array-line"),
    pytest.param(lines(meter_json() + ", " + vehicle_json()), id="ndjson-two-on-a-line"),
    pytest.param(lines('{"meterId": "m-1",', '"voltage": 1}'), id="ndjson-split-object"),
    pytest.param(array(meter_json()) + b",", id="trailing-comma"),
    pytest.param(array(meter_json())[:-5], id="truncated"),
    pytest.param(b"", id="empty"),
    pytest.param(b"[" * 10_000, id="deep"),
    pytest.param(b'{"a": ' * 10_000, id="deep-objects"),
]


class Name(str):
    __slots__ = ()


class Measured(float):
    __slots__ = ()


class Volts(enum.IntEnum):
    MAINS = 230


def exact(value: Any) -> Any:
    """``value`` with its types spelled out, so that 0, 0.0, -0.0 and False all differ."""
    if isinstance(value, dict):
        return ("dict", [(key, exact(item)) for key, item in value.items()])
    if isinstance(value, list):
        return ("list", [exact(item) for item in value])
    if isinstance(value, MeterReading | VehicleReading):
        names = [field.name for field in dataclasses.fields(value)]
        return (type(value).__name__, [(name, exact(getattr(value, name))) for name in names])
    if value is None or isinstance(value, str | int | float | datetime):
        return (type(value).__name__, repr(value))  # a datetime's repr shows its time zone
    return (type(value).__name__, getattr(value, "name", None))  # the marker of NaN and such


def outcome(call: Callable[[], Any]) -> Any:
    """The exact result of ``call``, or its refusal word for word."""
    try:
        return ("accepted", exact(call()))
    except InvalidInput as error:
        return ("refused", error.message, error.problems)


def verdicts(body: bytes, window: Window) -> list[Any]:
    """What each parser makes of ``body``."""

    def batch(document: Any) -> Any:
        return [document] if isinstance(document, dict) else document

    return [
        outcome(lambda: parse_json(body)),
        outcome(lambda: parse_ndjson(body)),
        outcome(lambda: parse_reading(parse_json(body), window)),
        outcome(lambda: parse_batch(batch(parse_json(body)), window)),
        outcome(lambda: parse_batch(parse_ndjson(body), window)),
    ]


class _RefusesEverything:
    """In place of the fast decoder: every body then takes the precise path."""

    def decode(self, body: bytes) -> NoReturn:
        raise ValueError("precise path only")


def precise_only(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(readings, "_FLAT_DOCUMENT", _RefusesEverything())
    monkeypatch.setattr(readings, "_certain_reading", lambda *_: None)


@pytest.mark.parametrize("window", [WINDOW, WIDE_WINDOW], ids=["30-days", "100-years"])
@pytest.mark.parametrize("body", TRICKY_BODIES)
def test_fast_and_precise_paths_agree_on_bodies(
    body: bytes, window: Window, monkeypatch: pytest.MonkeyPatch
) -> None:
    fast = verdicts(body, window)
    precise_only(monkeypatch)

    assert fast == verdicts(body, window)


@pytest.mark.parametrize(
    "obj",
    [
        pytest.param(meter(), id="meter"),
        pytest.param(vehicle(), id="vehicle"),
        pytest.param(collections.OrderedDict(meter()), id="dict-subclass"),
        pytest.param(meter(meterId=Name("m-1")), id="str-subclass-id"),
        pytest.param(meter(timestamp=Name(TS_TEXT)), id="str-subclass-timestamp"),
        pytest.param(meter(voltage=Volts.MAINS), id="int-subclass"),
        pytest.param(meter(voltage=Measured(230.5)), id="float-subclass"),
        pytest.param(meter(voltage=True), id="bool"),
        pytest.param(meter(kwhConsumedAc=-0.0), id="minus-0"),
        pytest.param(meter(kwhConsumedAc=math.inf), id="inf-unbounded"),
        pytest.param(meter(kwhConsumedAc=math.nan), id="nan-unbounded"),
        pytest.param(vehicle(batteryTemp=-math.inf), id="minus-inf"),
        pytest.param(meter(kwhConsumedAc=10**400), id="huge-int"),
        pytest.param(meter(timestamp=TS), id="datetime-object"),
        pytest.param(meter(meterId="\ud800"), id="lone-surrogate-id"),
        pytest.param(meter(timestamp="2026-02-09T10:00:00\ud800"), id="lone-surrogate-ts"),
        pytest.param({**meter(), "meterId": None}, id="id-none"),
        pytest.param(dict(reversed(meter().items())), id="key-order"),
        pytest.param({1: 2, 3: 4, 5: 6, 7: 8}, id="four-non-string-keys"),
        pytest.param([meter()], id="list"),
    ],
)
def test_fast_and_precise_paths_agree_on_python_objects(
    obj: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    def both() -> list[Any]:
        return [
            outcome(lambda: parse_reading(obj, WINDOW)),
            outcome(lambda: parse_batch([obj], WINDOW)),
        ]

    fast = both()
    precise_only(monkeypatch)

    assert fast == both()


def _never(*_: object) -> NoReturn:
    raise AssertionError("the precise path was taken")


@pytest.mark.parametrize(
    ("parse", "body"),
    [
        pytest.param(parse_json, array(meter_json(), vehicle_json()), id="array"),
        pytest.param(parse_json, array(meter_json()).replace(b", ", b","), id="compact"),
        pytest.param(
            parse_json, json.dumps([meter(), vehicle()], indent=2).encode(), id="indented"
        ),
        pytest.param(parse_json, meter_json().encode(), id="object"),
        pytest.param(
            parse_ndjson, lines(meter_json() + "\r", "", vehicle_json() + "\r", ""), id="ndjson"
        ),
        pytest.param(parse_json, array(meter_json(meterId='"a:b.c_d-e"')), id="id-punctuation"),
        pytest.param(
            parse_json, array(meter_json(kwhConsumedAc="0", voltage="1000")), id="integer-edges"
        ),
        pytest.param(parse_json, array(meter_json(kwhConsumedAc="-0", voltage="0.0")), id="zeros"),
        pytest.param(
            parse_json, array(vehicle_json(soc="1e2", batteryTemp="-4E1")), id="exponents"
        ),
        pytest.param(
            parse_json, array(meter_json(timestamp=stamp("2026-02-09T10:00:00.5Z"))), id="frac-1"
        ),
        pytest.param(
            parse_json,
            array(meter_json(timestamp=stamp("2026-02-09T10:00:00.123456Z"))),
            id="fraction-6",
        ),
        pytest.param(
            parse_json,
            array(meter_json(timestamp=stamp("2026-02-09T15:30:00+05:30"))),
            id="plus-05:30",
        ),
        pytest.param(
            parse_json,
            array(meter_json(timestamp=stamp("2026-02-09T02:00:00.25-08:00"))),
            id="minus-08:00",
        ),
    ],
)
def test_bodies_as_devices_send_them_take_the_fast_path(
    parse: Callable[[bytes], Any], body: bytes, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The daemon's throughput rests on this, and no other test would notice if a common way of
    # writing a reading started to cost four times as much.
    monkeypatch.setattr(readings, "_parse_json_precisely", _never)
    monkeypatch.setattr(readings, "_reading_problems", _never)

    document = parse(body)

    assert parse_batch(document if isinstance(document, list) else [document], WINDOW)


@pytest.mark.parametrize(
    ("obj", "built"),
    [
        pytest.param(
            meter(), MeterReading("meter-001", TS, kwh_consumed_ac=1.5, voltage=230.0), id="meter"
        ),
        pytest.param(
            vehicle(),
            VehicleReading("vehicle-001", TS, soc=55.0, kwh_delivered_dc=1.2, battery_temp=31.5),
            id="vehicle",
        ),
    ],
)
def test_fast_readings_are_the_dataclasses_init_builds(
    obj: dict[str, Any], built: MeterReading | VehicleReading
) -> None:
    fast = parse_reading(obj, WINDOW)

    assert type(fast) is type(built)
    assert fast == built
    assert hash(fast) == hash(built)
    assert repr(fast) == repr(built)
    assert dataclasses.astuple(fast) == dataclasses.astuple(built)
    with pytest.raises(dataclasses.FrozenInstanceError):
        fast.device_id = "other"  # type: ignore[misc]


def test_a_key_written_with_an_escape_is_the_same_key() -> None:
    escaped = meter_json().replace('"meterId"', '"\\u006deterId"').encode()

    assert parse_json(escaped) == parse_json(meter_json().encode())
    with pytest.raises(InvalidInput) as caught:
        parse_json(meter_json('"\\u006deterId": "m-2"').encode())
    assert caught.value.problems == (Problem("meterId", "appears more than once"),)


def test_a_duplicate_key_inside_a_batch_is_refused_by_name() -> None:
    with pytest.raises(InvalidInput) as caught:
        parse_json(array(meter_json(), vehicle_json('"batteryTemp": 31.5')))

    assert caught.value.problems == (Problem("batteryTemp", "appears more than once"),)


@pytest.mark.parametrize(
    ("token", "sign"),
    [pytest.param("-0", 1.0, id="integer"), pytest.param("-0.0", -1.0, id="float")],
)
def test_minus_zero_is_stored_as_the_standard_library_reads_it(token: str, sign: float) -> None:
    (reading,) = parse_batch(parse_json(array(meter_json(kwhConsumedAc=token))), WINDOW)

    assert isinstance(reading, MeterReading)
    assert math.copysign(1.0, reading.kwh_consumed_ac) == sign
