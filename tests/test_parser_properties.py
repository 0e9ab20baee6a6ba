"""Properties of the strict parser over inputs that no list of cases would think of.

The hand-picked cases in ``tests/test_readings.py`` pin each rule at its edges; here Hypothesis
looks between them for an input that makes a parser raise anything but ``InvalidInput``, refuse
without naming a field, turn a valid reading away, or read it differently depending on how it
was written, which is where the fast path and the precise path could part. The oracles are the
rules of API.md written again here, independently of ``daemon.readings``.
"""

from __future__ import annotations

import collections
import functools
import json
import math
import re
import string
from collections.abc import Callable, Collection, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone
from typing import Any, Final

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from daemon.errors import InvalidInput
from daemon.readings import (
    MAX_BATCH,
    MAX_PROBLEMS,
    Link,
    MeterReading,
    Reading,
    VehicleReading,
    Window,
    device_id,
    parse_batch,
    parse_batch_body,
    parse_hours,
    parse_json,
    parse_link,
    parse_ndjson,
    parse_reading,
)
from tests.test_readings import WINDOW, exact, is_sentence, outcome, precise_only, verdicts

PROFILE: Final = settings(
    # The same examples on every run, so that CI and a developer see the same thing, and no
    # example database to write or to replay from.
    derandomize=True,
    database=None,
    max_examples=100,
    # Shared machines stall at random; what these tests judge is never time.
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)

# --- the contract, written again ------------------------------------------------------------

ID_CHARACTERS: Final = frozenset(string.ascii_letters + string.digits + "._:-")
ID_FIELDS: Final = ("meterId", "vehicleId")
METER_FIELDS: Final = ("meterId", "kwhConsumedAc", "voltage", "timestamp")
VEHICLE_FIELDS: Final = ("vehicleId", "soc", "kwhDeliveredDc", "batteryTemp", "timestamp")
KINDS: Final = (METER_FIELDS, VEHICLE_FIELDS)
READING_FIELDS: Final = frozenset(METER_FIELDS + VEHICLE_FIELDS)
RANGES: Final = {
    "kwhConsumedAc": (0.0, 1000.0),
    "voltage": (0.0, 1000.0),
    "soc": (0.0, 100.0),
    "kwhDeliveredDc": (0.0, 1000.0),
    "batteryTemp": (-40.0, 100.0),
}


def is_device_id(value: object) -> bool:
    return (
        isinstance(value, str)
        and 1 <= len(value) <= 64
        and set(value) <= ID_CHARACTERS
        and value[0] not in "._:-"
    )


def obeys_the_contract(reading: Reading, window: Window) -> bool:
    numbers = (
        {"kwhConsumedAc": reading.kwh_consumed_ac, "voltage": reading.voltage}
        if isinstance(reading, MeterReading)
        else {
            "soc": reading.soc,
            "kwhDeliveredDc": reading.kwh_delivered_dc,
            "batteryTemp": reading.battery_temp,
        }
    )
    return (
        is_device_id(reading.device_id)
        and reading.ts.utcoffset() == timedelta(0)
        and window.now - window.max_age <= reading.ts <= window.now + window.max_ahead
        and all(
            type(value) is float and RANGES[name][0] <= value <= RANGES[name][1]
            for name, value in numbers.items()
        )
    )


# --- what every refusal owes the client -----------------------------------------------------


def check_refusal(
    error: InvalidInput,
    *,
    fields: Collection[str] | None = None,
    items: int | None = None,
    sentence: bool = True,
) -> None:
    """A message a person can act on, naming the first problem's field; each problem names a
    field among ``fields`` (when known) and, for a batch of ``items``, the item it is about."""
    assert error.message, error
    assert str(error) == error.message
    if sentence:
        assert is_sentence(error.message), error.message
    assert len(error.problems) <= MAX_PROBLEMS
    for problem in error.problems:
        assert problem.message, problem
        assert fields is None or problem.field in fields, problem
        if items is not None:
            assert problem.index is not None, problem
            assert 0 <= problem.index < items, problem
    if error.problems:
        first = error.problems[0].field
        assert first in error.message or repr(first) in error.message, error.message


def attempt(call: Callable[[], Any]) -> Any:
    """What ``call`` returns, or the ``InvalidInput`` it raises; anything else fails the test."""
    try:
        return call()
    except InvalidInput as error:
        return error


def reading_fields(items: Iterable[Any]) -> set[str]:
    """The names a refusal of these items may use: the contract's, and whatever keys came."""
    keys = {key for item in items if isinstance(item, dict) for key in item}
    return {"body", *READING_FIELDS, *keys}


# --- strategies ------------------------------------------------------------------------------

WHITESPACE: Final = st.sampled_from(["", " ", "\n", "\t", "\r\n", "  \t"])
KEYS: Final = st.sampled_from(sorted(READING_FIELDS)) | st.text(max_size=6)
NUMBER_TOKENS: Final = st.from_regex(
    r"-?(0|[1-9][0-9]{0,25})(\.[0-9]{1,25})?([eE][+-]?[0-9]{1,3})?", fullmatch=True
) | st.sampled_from(
    ["NaN", "Infinity", "-Infinity", "-NaN", "1e400", "-1e400", "1" + "0" * 400, "-0", "1e-400"]
)
STRING_TOKENS: Final = st.builds(json.dumps, st.text(), ensure_ascii=st.booleans())
SCALAR_TOKENS: Final = st.sampled_from(["null", "true", "false"]) | NUMBER_TOKENS | STRING_TOKENS


def _container(draw: st.DrawFn, opening: str, closing: str, parts: list[str]) -> str:
    space = draw(WHITESPACE)
    return opening + space + f",{space}".join(parts) + space + closing


@st.composite
def _arrays(draw: st.DrawFn, items: st.SearchStrategy[str]) -> str:
    return _container(draw, "[", "]", draw(st.lists(items, max_size=4)))


@st.composite
def _objects(draw: st.DrawFn, values: st.SearchStrategy[str]) -> str:
    """Keys drawn from a small set, so that duplicates (which msgspec would quietly resolve)
    come up often."""
    members = draw(st.lists(st.tuples(KEYS, values), max_size=6))
    return _container(draw, "{", "}", [f"{json.dumps(key)}: {value}" for key, value in members])


def _nested(depth: int) -> str:
    return "[" * depth + "]" * depth


SHALLOW_TEXTS: Final = st.recursive(
    SCALAR_TOKENS, lambda inner: _arrays(inner) | _objects(inner), max_leaves=20
)
JSON_TEXTS: Final = (
    SHALLOW_TEXTS
    | st.integers(0, 5_000).map(_nested)
    | st.integers(1, 5_000).map(lambda depth: '{"a": ' * depth)
)


def encoded(text: str) -> bytes:
    """UTF-8, lone surrogates included as their (invalid) three bytes."""
    return text.encode("utf-8", "surrogatepass")


SHALLOW_BODIES: Final = st.binary(max_size=300) | SHALLOW_TEXTS.map(encoded)
BODIES: Final = SHALLOW_BODIES | JSON_TEXTS.map(encoded)
NDJSON_BODIES: Final = st.builds(
    lambda lines, newline: encoded(newline.join(lines)),
    st.lists(SHALLOW_TEXTS | st.sampled_from(["", " ", "\t"]), max_size=6),
    st.sampled_from(["\n", "\r\n"]),
)

JSON_VALUES: Final = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.integers(min_value=-(10**400), max_value=10**400)
    | st.floats()
    | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(KEYS, inner, max_size=5),
    max_leaves=12,
)
DEVICE_IDS: Final = st.from_regex(r"[A-Za-z0-9][A-Za-z0-9._:-]{0,63}", fullmatch=True)


@st.composite
def windows(draw: st.DrawFn) -> Window:
    now = draw(st.datetimes(min_value=datetime(2000, 1, 1), max_value=datetime(2100, 1, 1)))
    return Window(
        now=now.replace(tzinfo=UTC),
        max_ahead=timedelta(seconds=draw(st.integers(0, 3_600))),
        max_age=timedelta(days=draw(st.integers(1, 400))),
    )


@st.composite
def timestamps(
    draw: st.DrawFn, window: Window, margin: timedelta = timedelta(0)
) -> tuple[str, datetime]:
    """An instant of the window (or up to ``margin`` outside it), written in RFC 3339 in any of
    the ways the contract allows (any offset, ``T``, ``t`` or a space, ``Z`` or ``z``, 0 to 9
    digits of a second), with the instant it must read as: a fraction's digits past the sixth
    are dropped, not rounded. The window's edges, and the microseconds just past them, come up
    often."""
    earliest = window.now - window.max_age
    span = (window.max_age + window.max_ahead) // timedelta(microseconds=1)
    outside = margin // timedelta(microseconds=1)
    edges = [0, span] + ([-1, span + 1] if outside else [])
    offset = draw(st.sampled_from(edges) | st.integers(-outside, span + outside))
    instant = earliest + timedelta(microseconds=offset)
    digits = draw(st.integers(0, 6))
    shown = instant - timedelta(microseconds=instant.microsecond % 10 ** (6 - digits))
    if shown < earliest:
        digits, shown = 6, instant
    minutes = draw(st.integers(-(23 * 60 + 59), 23 * 60 + 59))
    local = shown.astimezone(timezone(timedelta(minutes=minutes)))
    fraction = f"{local.microsecond:06d}"[:digits]
    if digits == 6:
        fraction += draw(st.from_regex(r"[0-9]{0,3}", fullmatch=True))
    sign = "-" if minutes < 0 else "+"
    zone = f"{sign}{abs(minutes) // 60:02d}:{abs(minutes) % 60:02d}"
    if minutes == 0:
        zone = draw(st.sampled_from(["Z", "z", "+00:00", "-00:00"]))
    text = (
        local.strftime("%Y-%m-%d")
        + draw(st.sampled_from(["T", "t", " "]))
        + local.strftime("%H:%M:%S")
        + (f".{fraction}" if fraction else "")
        + zone
    )
    return text, shown


def _numbers(field: str) -> st.SearchStrategy[float | int]:
    low, high = RANGES[field]
    return st.sampled_from([low, high]) | st.floats(low, high) | st.integers(int(low), int(high))


EDGE_NUMBERS: Final = st.sampled_from(
    sorted(
        {
            number
            for low, high in RANGES.values()
            for edge in (low, high)
            for number in (
                edge,
                int(edge),
                math.nextafter(edge, -math.inf),
                math.nextafter(edge, math.inf),
            )
        }
    )
)


@st.composite
def altered_timestamps(draw: st.DrawFn, window: Window) -> str:
    """A timestamp near the window with one character changed: the near misses of the
    contract's grammar (hour 24, a missing offset, a stray separator) that both paths must
    refuse alike."""
    text, _ = draw(timestamps(window, timedelta(days=1)))
    where = draw(st.integers(0, len(text)))
    changed = draw(st.sampled_from(list("0123456789Tt Zz+-:.,_")) | st.characters() | st.just(""))
    return text[:where] + changed + text[where + 1 :]


def field_values(window: Window) -> st.SearchStrategy[Any]:
    """Anything at all, and what is nearly right for some field of a reading."""
    return (
        JSON_VALUES
        | EDGE_NUMBERS
        | DEVICE_IDS
        | timestamps(window, timedelta(days=1)).map(lambda pair: pair[0])
        | altered_timestamps(window)
    )


@dataclass(frozen=True)
class Sent:
    """A valid reading as a device might send it, and the reading it must become."""

    obj: dict[str, Any]
    reading: Reading


@st.composite
def valid_readings(draw: st.DrawFn, window: Window, fields: tuple[str, ...] | None = None) -> Sent:
    """A reading of the kind whose ``fields`` are given, or of either."""
    device = draw(DEVICE_IDS)
    text, ts = draw(timestamps(window))
    fields = fields or draw(st.sampled_from(KINDS))
    numbers = {field: draw(_numbers(field)) for field in fields[1:-1]}
    obj = {fields[0]: device, **numbers, "timestamp": text}
    values = [float(value) for value in numbers.values()]
    reading: Reading = (
        MeterReading(device, ts, values[0], values[1])
        if fields is METER_FIELDS
        else VehicleReading(device, ts, values[0], values[1], values[2])
    )
    return Sent(dict(draw(st.permutations(list(obj.items())))), reading)


@st.composite
def reading_like(draw: st.DrawFn) -> Any:
    """A valid reading with a field or two dropped, added or changed to anything at all; mostly
    one of its own fields, since that is where the two paths' checks differ."""
    obj = dict(draw(valid_readings(WINDOW)).obj)
    for _ in range(draw(st.integers(1, 2))):
        key = draw(st.sampled_from(sorted(obj))) if draw(st.integers(0, 3)) else draw(KEYS)
        if draw(st.booleans()):
            obj.pop(key, None)
        else:
            obj[key] = draw(field_values(WINDOW))
    return obj


ITEMS: Final = reading_like() | JSON_VALUES


def written(obj: dict[str, Any], style: int) -> bytes:
    """``obj`` as JSON text in one of several styles: compact, spaced, indented with the keys
    sorted, and with a character of a string escaped (which only the precise path reads)."""
    if style == 0:
        return json.dumps(obj, separators=(",", ":")).encode()
    if style == 1:
        return json.dumps(obj, separators=(" , ", " : ")).encode()
    if style == 2:
        return json.dumps(obj, indent="\t", sort_keys=True).encode()
    escaped = json.dumps(obj)
    quote = escaped.index('": "') + 4
    return (escaped[:quote] + f"\\u{ord(escaped[quote]):04x}" + escaped[quote + 1 :]).encode()


STYLES: Final = range(4)


# --- anything in, readings or InvalidInput out ---------------------------------------------


@PROFILE
@given(BODIES)
@example(b'{"meterId": "m-1", "meterId": "m-1"}')
@example(b"[" * 100_000)
def test_any_body_is_a_document_or_a_refusal(body: bytes) -> None:
    refused = attempt(lambda: parse_json(body))
    if isinstance(refused, InvalidInput):
        check_refusal(refused)


@PROFILE
@given(SHALLOW_BODIES)
def test_fast_and_precise_paths_agree_on_any_body(body: bytes) -> None:
    # Shallow: the verdicts are compared by walking the documents, which deep ones would not
    # survive, and the fast path leaves anything nested to the precise one anyway.
    fast = verdicts(body, WINDOW)
    with pytest.MonkeyPatch.context() as patch:
        precise_only(patch)
        assert verdicts(body, WINDOW) == fast


@PROFILE
@given(NDJSON_BODIES | SHALLOW_BODIES)
def test_any_ndjson_body_is_documents_or_a_refusal_by_line(body: bytes) -> None:
    lines = [line for line in body.split(b"\n") if line.strip()]
    documents = attempt(lambda: parse_ndjson(body))
    if isinstance(documents, InvalidInput):
        # Not held to one sentence: see test_a_refused_ndjson_line_is_one_sentence.
        check_refusal(documents, fields={"body"}, items=len(lines), sentence=False)
        return
    assert len(documents) == len(lines)
    assert [exact(document) for document in documents] == [
        exact(parse_json(line)) for line in lines
    ]


@PROFILE
@given(BODIES | NDJSON_BODIES, st.booleans())
def test_any_batch_body_is_readings_or_a_refusal(body: bytes, ndjson: bool) -> None:
    readings = attempt(lambda: parse_batch_body(body, ndjson, WINDOW))
    if isinstance(readings, InvalidInput):
        check_refusal(readings, sentence=not ndjson)
        return
    assert 1 <= len(readings) <= MAX_BATCH
    assert all(obeys_the_contract(reading, WINDOW) for reading in readings)


@PROFILE
@given(ITEMS)
@example({"meterId": "m-1", "": 1, "kwhConsumedAc": 1, "voltage": 1, "timestamp": ""})
def test_any_object_is_a_reading_or_a_refusal_naming_its_fields(obj: Any) -> None:
    reading = attempt(lambda: parse_reading(obj, WINDOW))
    if isinstance(reading, InvalidInput):
        check_refusal(reading, fields=reading_fields([obj]))
    else:
        assert obeys_the_contract(reading, WINDOW)


@PROFILE
@given(ITEMS)
def test_fast_and_precise_paths_agree_on_any_object(obj: Any) -> None:
    def both() -> list[Any]:
        return [
            outcome(lambda: parse_reading(obj, WINDOW)),
            outcome(lambda: parse_batch([obj], WINDOW)),
        ]

    fast = both()
    with pytest.MonkeyPatch.context() as patch:
        precise_only(patch)
        assert both() == fast


@PROFILE
@given(st.lists(ITEMS, max_size=6) | JSON_VALUES)
def test_a_batch_is_its_readings_or_a_refusal_of_the_bad_ones_by_index(items: Any) -> None:
    readings = attempt(lambda: parse_batch(items, WINDOW))
    if not isinstance(items, list) or not items:
        assert isinstance(readings, InvalidInput)
        check_refusal(readings)
        assert readings.problems == ()
        return
    each = [attempt(functools.partial(parse_reading, item, WINDOW)) for item in items]
    refused = {index for index, one in enumerate(each) if isinstance(one, InvalidInput)}
    if not refused:
        assert exact(readings) == exact(each)
        return
    assert isinstance(readings, InvalidInput)
    check_refusal(readings, fields=reading_fields(items), items=len(items))
    assert [(p.index, p.field, p.message) for p in readings.problems] == [
        (index, p.field, p.message) for index in sorted(refused) for p in each[index].problems
    ]


@PROFILE
@given(ITEMS | st.dictionaries(st.sampled_from([*ID_FIELDS, "x"]), JSON_VALUES | DEVICE_IDS))
def test_any_link_is_a_link_or_a_refusal_naming_its_fields(obj: Any) -> None:
    link = attempt(lambda: parse_link(obj))
    if isinstance(link, InvalidInput):
        keys = obj if isinstance(obj, dict) else ()
        check_refusal(link, fields={*ID_FIELDS, *keys})
        return
    assert link == Link(obj["vehicleId"], obj["meterId"])
    assert set(obj) == set(ID_FIELDS)
    assert is_device_id(link.vehicle_id)
    assert is_device_id(link.meter_id)


@PROFILE
@given(st.none() | st.text() | st.from_regex(r"0*[0-9]{1,4}", fullmatch=True), st.integers(1, 999))
@example("0" * 5_000 + "1", 24)
@example("1" * 5_000, 999)
@example("\u0661", 720)
def test_any_hours_is_a_whole_number_in_range_or_a_refusal(raw: str | None, maximum: int) -> None:
    hours = attempt(lambda: parse_hours(raw, maximum=maximum))
    match = re.fullmatch(r"0*([1-9][0-9]{0,2})", raw or "", re.ASCII)
    if raw is None:
        assert hours == 24
    elif match is not None and int(match[1]) <= maximum:
        assert hours == int(match[1])
    else:
        assert isinstance(hours, InvalidInput)
        check_refusal(hours, fields={"hours"})
        assert [problem.field for problem in hours.problems] == ["hours"]


@PROFILE
@given(JSON_VALUES | DEVICE_IDS, st.sampled_from(ID_FIELDS))
@example("a" * 64, "vehicleId")
@example("a" * 65, "vehicleId")
@example("a\n", "meterId")
def test_any_device_id_is_itself_or_a_refusal_naming_the_field(value: Any, field: str) -> None:
    checked = attempt(lambda: device_id(value, field))
    if is_device_id(value):
        assert checked == value
    else:
        assert isinstance(checked, InvalidInput)
        check_refusal(checked, fields={field})
        assert [problem.field for problem in checked.problems] == [field]


def test_a_refused_ndjson_line_is_one_sentence() -> None:
    with pytest.raises(InvalidInput) as caught:
        parse_ndjson(b"{\n")

    check_refusal(caught.value, fields={"body"}, items=1)


# --- valid readings are read as written -------------------------------------------------------

KindTest = Callable[[tuple[str, ...], st.DataObject], None]


def per_kind(test: KindTest) -> KindTest:
    """A property run for meters and vehicles apart: drawn together, the first kind would
    get most of the examples."""
    run: KindTest = PROFILE(given(st.data())(test))
    return pytest.mark.parametrize("fields", KINDS, ids=["meter", "vehicle"])(run)


@st.composite
def windowed(draw: st.DrawFn, fields: tuple[str, ...]) -> tuple[Window, Sent]:
    """A valid reading of the kind, and the window it is valid in."""
    window = draw(windows())
    return window, draw(valid_readings(window, fields))


@per_kind
def test_a_valid_reading_reads_the_same_whichever_way_it_is_written(
    fields: tuple[str, ...], data: st.DataObject
) -> None:
    window, sent = data.draw(windowed(fields))
    expected = exact(sent.reading)

    assert exact(parse_reading(sent.obj, window)) == expected
    assert exact(parse_reading(collections.OrderedDict(sent.obj), window)) == expected
    for style in STYLES:
        body = written(sent.obj, style)
        assert exact(parse_reading(parse_json(body), window)) == expected, body
        batch = parse_batch_body(b"[" + body + b"]", False, window)
        assert [exact(reading) for reading in batch] == [expected], body
    assert exact(parse_batch_body(written(sent.obj, 0), True, window)) == exact([sent.reading])


@PROFILE
@given(st.data())
def test_a_batch_of_valid_readings_is_read_in_order_as_array_or_ndjson(
    data: st.DataObject,
) -> None:
    window = data.draw(windows())
    batch = data.draw(st.lists(valid_readings(window), min_size=1, max_size=20))
    expected = exact([sent.reading for sent in batch])
    lines = [written(sent.obj, data.draw(st.sampled_from([0, 1, 3]))) for sent in batch]
    newline = data.draw(st.sampled_from([b"\n", b"\r\n", b"\n\n", b"\n \t\n"]))

    assert exact(parse_batch([sent.obj for sent in batch], window)) == expected
    assert exact(parse_batch_body(b"[" + b",".join(lines) + b"]", False, window)) == expected
    assert exact(parse_batch_body(newline.join(lines) + newline, True, window)) == expected


@per_kind
def test_an_unknown_field_on_a_valid_reading_is_named_whichever_way_it_is_written(
    fields: tuple[str, ...], data: st.DataObject
) -> None:
    window, sent = data.draw(windowed(fields))
    extra = data.draw(
        st.text(max_size=8) | st.sampled_from(sorted(READING_FIELDS - set(ID_FIELDS)))
    )
    if extra in fields or extra in ID_FIELDS:
        return
    obj = {**sent.obj, extra: data.draw(JSON_VALUES | DEVICE_IDS)}
    kind = sent.reading.kind
    parsed = [obj, collections.OrderedDict(obj)]
    parsed += [parse_json(written(obj, style)) for style in STYLES]

    for each in parsed:
        with pytest.raises(InvalidInput) as caught:
            parse_reading(each, window)
        check_refusal(caught.value, fields={extra})
        assert [(p.field, p.message) for p in caught.value.problems] == [
            (extra, f"is not a field of a {kind} reading")
        ]


@per_kind
def test_a_reading_with_one_field_changed_names_that_field_alone(
    fields: tuple[str, ...], data: st.DataObject
) -> None:
    sent = data.draw(valid_readings(WINDOW, fields))
    field = data.draw(st.sampled_from(fields))
    value = data.draw(field_values(WINDOW))
    obj = {**sent.obj, field: value}

    assert outcome(lambda: parse_reading(obj, WINDOW)) == outcome(
        lambda: parse_reading(collections.OrderedDict(obj), WINDOW)
    )
    result = attempt(lambda: parse_reading(obj, WINDOW))
    if isinstance(result, InvalidInput):
        check_refusal(result, fields={field})
        assert {problem.field for problem in result.problems} == {field}
    else:
        assert obeys_the_contract(result, WINDOW)
        assert result.device_id == obj[fields[0]]


@per_kind
def test_a_reading_without_a_field_names_it(fields: tuple[str, ...], data: st.DataObject) -> None:
    sent = data.draw(valid_readings(WINDOW, fields))
    field = data.draw(st.sampled_from(fields))
    obj = {key: value for key, value in sent.obj.items() if key != field}
    named = "vehicleId" if field in ID_FIELDS else field

    for each in (obj, collections.OrderedDict(obj), parse_json(written(obj, 0))):
        with pytest.raises(InvalidInput) as caught:
            parse_reading(each, WINDOW)
        check_refusal(caught.value, fields={named})
        assert [problem.field for problem in caught.value.problems] == [named]


@PROFILE
@given(st.lists(DEVICE_IDS, min_size=2, max_size=2), st.booleans())
def test_a_valid_link_is_read_as_written(ids: list[str], reversed_keys: bool) -> None:
    obj = {"vehicleId": ids[0], "meterId": ids[1]}
    if reversed_keys:
        obj = dict(reversed(obj.items()))

    assert parse_link(obj) == Link(ids[0], ids[1])
    assert parse_link(parse_json(written(obj, 2))) == Link(ids[0], ids[1])
