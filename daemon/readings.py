"""Readings as the engine keeps them, and the strict parser that turns request bodies into them.

Synchronous and free of I/O: the HTTP layer hands in bytes and the current time, and gets back
readings or an ``InvalidInput`` that says, per field, what a client must change. Nothing here
trusts the JSON library's leniency: NaN, Infinity, duplicate keys, booleans posing as numbers
and timestamps without an offset are all refused.

Each step has a fast path that accepts only what is certainly valid, and hands anything else,
unchanged, to the precise path: that path alone words the errors, so they read the same
whichever way a body came in, while the bodies devices usually send cost a fraction as much.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone
from itertools import chain
from types import NoneType
from typing import Any, Final, Literal, cast

import msgspec

from daemon.errors import InvalidInput, Problem

MAX_BATCH: Final = 10_000
MAX_PROBLEMS: Final = 100

_DEVICE_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:-]{0,63}", re.ASCII)
_DEVICE_ID_RULE: Final = (
    "must be 1 to 64 characters of A-Z a-z 0-9 . _ : - starting with a letter or digit"
)
_RFC3339 = re.compile(
    r"(\d{4})-(\d{2})-(\d{2})[Tt ](\d{2}):(\d{2}):(\d{2})(?:\.(\d+))?"
    r"(?:([Zz])|([+-])(\d{2}):(\d{2}))?",
    re.ASCII,
)


@dataclass(frozen=True, slots=True)
class MeterReading:
    device_id: str
    ts: datetime
    kwh_consumed_ac: float
    voltage: float

    kind: Literal["meter"] = "meter"


@dataclass(frozen=True, slots=True)
class VehicleReading:
    device_id: str
    ts: datetime
    soc: float
    kwh_delivered_dc: float
    battery_temp: float

    kind: Literal["vehicle"] = "vehicle"


Reading = MeterReading | VehicleReading


@dataclass(frozen=True, slots=True)
class Window:
    """The span of time a reading's timestamp must fall in, relative to the server's clock."""

    now: datetime
    max_ahead: timedelta
    max_age: timedelta


@dataclass(frozen=True, slots=True)
class Link:
    vehicle_id: str
    meter_id: str


# --- bodies -------------------------------------------------------------------------------


class _DuplicateKey(ValueError):
    pass


class _NonFinite:
    """What NaN and Infinity parse to: kept, so the field check can name the field they are in."""

    __slots__ = ("name",)

    def __init__(self, name: str) -> None:
        self.name = name


_Scalar = str | int | float | bool | None
# The shapes of reading and link bodies: an object of scalars, or an array of them. Anything
# deeper or different is left to the precise parser, whose errors (nesting depth included) and
# results are the reference.
_FLAT_DOCUMENT: Final = msgspec.json.Decoder(list[dict[str, _Scalar]] | dict[str, _Scalar])


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out = dict(pairs)
    if len(out) != len(pairs):
        seen: set[str] = set()
        for key, _ in pairs:
            if key in seen:
                raise _DuplicateKey(key)
            seen.add(key)
    return out


def parse_json(body: bytes) -> Any:
    """Parse one JSON document, refusing what RFC 8259 does not allow and what is ambiguous.

    Bodies of readings and links are flat, and msgspec decodes those several times faster than
    the standard library with hooks can. It is as strict about the grammar, but keeps the last of
    duplicate keys without a word, and it is never asked about escapes (which readings do not
    need), so that how it reads them never matters. Whatever it refuses or might have read
    differently goes to the precise parser, which alone words the errors.
    """
    if b"\\" not in body:
        try:
            document = _FLAT_DOCUMENT.decode(body)
        except ValueError:  # msgspec's DecodeError, or UnicodeDecodeError inside a string
            pass
        else:
            objects = document if isinstance(document, list) else [document]
            if _all_keys_kept(objects, body):
                return document
    return _parse_json_precisely(body)


def _all_keys_kept(objects: list[dict[str, _Scalar]], body: bytes) -> bool:
    """Whether decoding ``body`` into ``objects`` dropped no duplicate key.

    Every ``"`` of a body opens or closes a key or a string value, bar escaped ones, so a body
    has twice as many as its objects hold keys and strings only when none was dropped. Counted
    in C, since this runs for every body.
    """
    values = chain.from_iterable(map(dict.values, objects))
    strings = sum(map(len, objects)) + list(map(type, values)).count(str)
    return 2 * strings == body.count(b'"')


def _parse_json_precisely(body: bytes) -> Any:
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        raise InvalidInput("The body is not UTF-8 text.") from None
    try:
        return json.loads(text, parse_constant=_NonFinite, object_pairs_hook=_unique_keys)
    except _DuplicateKey as dup:
        field = str(dup)
        raise InvalidInput(
            f"The field {field!r} appears more than once.",
            [Problem(field, "appears more than once")],
        ) from None
    except ValueError as error:
        raise InvalidInput(f"The body is not valid JSON: {error}.") from None
    except RecursionError:
        raise InvalidInput("The body nests JSON arrays or objects too deeply.") from None


def parse_ndjson(body: bytes) -> list[Any]:
    """One JSON value per non-blank line; problems carry the zero-based index of the reading.

    Lines of readings are decoded by msgspec as in ``parse_json``, and checked for dropped keys
    all at once; on any doubt, each line goes through ``parse_json`` for its own verdict.
    """
    lines = [line for line in body.split(b"\n") if line.strip()]
    if b"\\" not in body:
        try:
            documents = [_FLAT_DOCUMENT.decode(line) for line in lines]
        except ValueError:  # msgspec's DecodeError, or UnicodeDecodeError inside a string
            pass
        else:
            objects = [document for document in documents if isinstance(document, dict)]
            if len(objects) == len(documents) and _all_keys_kept(objects, body):
                return documents
    items: list[Any] = []
    problems: list[Problem] = []
    for line in lines:
        try:
            items.append(parse_json(line))
        except InvalidInput as error:
            problems.append(
                Problem(
                    "body", f"is not a valid JSON line: {error.message.rstrip('.')}", len(items)
                )
            )
            if len(problems) == MAX_PROBLEMS:
                raise _batch_error(problems, len(lines), complete=False) from None
            items.append(None)
    if problems:
        raise _batch_error(problems, len(items), complete=True)
    return items


# --- fields -------------------------------------------------------------------------------


def _json_type(value: Any) -> str:
    if isinstance(value, _NonFinite):
        return value.name
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "an array"
    if isinstance(value, dict):
        return "an object"
    return "a number"


def _number(obj: dict[str, Any], field: str, low: float, high: float) -> float:
    value = obj.get(field)
    if field not in obj:
        raise _FieldError(field, "is required")
    if isinstance(value, _NonFinite):
        raise _FieldError(field, f"must be a finite number, not {value.name}")
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise _FieldError(field, f"must be a number, not {_json_type(value)}")
    try:
        number = float(value)
    except OverflowError:
        number = math.inf
    if not math.isfinite(number):
        raise _FieldError(field, "must be a finite number")
    if not low <= number <= high:
        raise _FieldError(field, f"must be between {low:g} and {high:g}")
    return number


def device_id(value: Any, field: str) -> str:
    """Check a device id from a body or a path; raise ``InvalidInput`` naming ``field``."""
    try:
        return _device_id(value, field)
    except _FieldError as error:
        raise InvalidInput(f"Invalid {field}: {error.problem.message}.", [error.problem]) from None


def _device_id(value: Any, field: str) -> str:
    if not isinstance(value, str):
        raise _FieldError(field, f"must be a string, not {_json_type(value)}")
    if _DEVICE_ID.fullmatch(value) is None:
        raise _FieldError(field, _DEVICE_ID_RULE)
    return value


def _parse_timestamp(value: Any, field: str = "timestamp") -> datetime:
    """RFC 3339 with a mandatory offset and a real calendar date, returned in UTC."""
    if not isinstance(value, str):
        raise _FieldError(field, f"must be an RFC 3339 date-time string, not {_json_type(value)}")
    match = _RFC3339.fullmatch(value)
    if match is None:
        raise _FieldError(field, "must be an RFC 3339 date-time such as 2026-02-09T10:00:00Z")
    year, month, day, hour, minute, second, fraction, zulu, sign, off_h, off_m = match.groups()
    if zulu is None and sign is None:
        raise _FieldError(field, "needs a UTC offset, such as Z or +05:30")
    try:
        offset = timedelta(0)
        if sign is not None:
            if int(off_h) > 23 or int(off_m) > 59:
                raise ValueError("offset out of range")
            offset = timedelta(hours=int(off_h), minutes=int(off_m))
            if sign == "-":
                offset = -offset
        micro = int((fraction or "0")[:6].ljust(6, "0"))
        local = datetime(
            int(year),
            int(month),
            int(day),
            int(hour),
            int(minute),
            int(second),
            micro,
            tzinfo=timezone(offset),
        )
        return local.astimezone(UTC)
    except (ValueError, OverflowError):
        raise _FieldError(field, "is not a real calendar date and time") from None


def _timestamp(obj: dict[str, Any], window: Window) -> datetime:
    if "timestamp" not in obj:
        raise _FieldError("timestamp", "is required")
    ts = _parse_timestamp(obj["timestamp"])
    if ts > window.now + window.max_ahead:
        ahead = int(window.max_ahead.total_seconds())
        raise _FieldError("timestamp", f"is more than {ahead} s ahead of the server's clock")
    if ts < window.now - window.max_age:
        raise _FieldError("timestamp", f"is older than the {window.max_age.days}-day retention")
    return ts


# --- readings -----------------------------------------------------------------------------


class _FieldError(Exception):
    def __init__(self, field: str, message: str) -> None:
        super().__init__(field, message)
        self.problem = Problem(field, message)


# Ranges of the contract, shared by the precise checks and the fast path so they cannot drift.
MAX_KWH: Final = 1000.0
"""Energy of one reading: a megawatt charger delivers about 60 kWh in a minute's interval and a
large depot's meter a few hundred, so 1 MWh is beyond any real one. The bound keeps every sum
of readings finite wherever it is added up (rollups, analytics, the fleet's totals)."""
_MAX_VOLTAGE: Final = 1000.0
_MAX_SOC: Final = 100.0
_MIN_BATTERY_TEMP: Final = -40.0
_MAX_BATTERY_TEMP: Final = 100.0

_METER_FIELDS: Final = frozenset({"meterId", "kwhConsumedAc", "voltage", "timestamp"})
_VEHICLE_FIELDS: Final = frozenset(
    {"vehicleId", "soc", "kwhDeliveredDc", "batteryTemp", "timestamp"}
)


def _collect(checks: Sequence[Callable[[], Any]]) -> tuple[list[Any], list[Problem]]:
    """Run every field check, keeping values and problems, so one response lists them all."""
    values: list[Any] = []
    problems: list[Problem] = []
    for check in checks:
        try:
            values.append(check())
        except _FieldError as error:
            problems.append(error.problem)
    return values, problems


def _reading_problems(obj: Any, window: Window) -> tuple[Reading | None, list[Problem]]:
    if not isinstance(obj, dict):
        return None, [Problem("body", f"must be a JSON object, not {_json_type(obj)}")]
    has_meter, has_vehicle = "meterId" in obj, "vehicleId" in obj
    if has_meter and has_vehicle:
        return None, [Problem("vehicleId", "cannot be sent with meterId: give exactly one")]
    if not has_meter and not has_vehicle:
        return None, [Problem("vehicleId", "or meterId is required: give exactly one")]
    kind = "meter" if has_meter else "vehicle"
    allowed = _METER_FIELDS if has_meter else _VEHICLE_FIELDS
    problems = [
        Problem(field, f"is not a field of a {kind} reading")
        for field in obj
        if field not in allowed
    ]
    if has_meter:
        values, found = _collect(
            (
                lambda: _device_id(obj["meterId"], "meterId"),
                lambda: _timestamp(obj, window),
                lambda: _number(obj, "kwhConsumedAc", 0, MAX_KWH),
                lambda: _number(obj, "voltage", 0, _MAX_VOLTAGE),
            )
        )
        reading: Reading | None = None if found or problems else MeterReading(*values)
    else:
        values, found = _collect(
            (
                lambda: _device_id(obj["vehicleId"], "vehicleId"),
                lambda: _timestamp(obj, window),
                lambda: _number(obj, "soc", 0, _MAX_SOC),
                lambda: _number(obj, "kwhDeliveredDc", 0, MAX_KWH),
                lambda: _number(obj, "batteryTemp", _MIN_BATTERY_TEMP, _MAX_BATTERY_TEMP),
            )
        )
        reading = None if found or problems else VehicleReading(*values)
    return reading, problems + found


# --- the fast path ---------------------------------------------------------------------------
#
# Nearly every reading a device sends is valid and written the same way, so it is checked with a
# handful of exact-type tests and comparisons and built directly. Whatever is not certainly valid
# here (a missing or extra field, a subclass, an integer no float can hold, a timestamp not in
# canonical form) goes to the collecting checks above, which alone word the problems: the two
# paths cannot disagree on a message, since only one of them writes any.

# What ``datetime.fromisoformat`` can be trusted with: it accepts far more than RFC 3339 (other
# separators, basic formats, ``+0530``) and more in newer Pythons (hour 24, offset minute 60).
_CANONICAL_TIMESTAMP: Final = re.compile(
    r"[0-9]{4}-[0-9]{2}-[0-9]{2}T(?:[01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9](?:\.[0-9]{1,6})?"
    r"(?:Z|[+-](?:[01][0-9]|2[0-3]):[0-5][0-9])"
)


def _certain_timestamp(value: Any) -> datetime | None:
    """The timestamp in UTC when its form leaves no doubt, else None for the precise parser."""
    if type(value) is not str or _CANONICAL_TIMESTAMP.fullmatch(value) is None:
        return None
    try:
        return datetime.fromisoformat(value).astimezone(UTC)
    except (ValueError, OverflowError):  # not a calendar date, or out of range once in UTC
        return None


def _certain_float(value: Any) -> float:
    """A float as it is, an int as the float the precise path stores, and NaN (which no range
    admits) for anything else: a bool, a string, an int no float can hold."""
    kind = type(value)
    if kind is float:
        return cast(float, value)
    if kind is int:
        try:
            return float(value)
        except OverflowError:
            return math.nan
    return math.nan


def _certain_reading(obj: Any, earliest: datetime, latest: datetime) -> Reading | None:
    """The reading ``obj`` holds when it is certainly valid, else None for the precise checks."""
    if type(obj) is not dict:
        return None
    ts = _certain_timestamp(obj.get("timestamp"))
    if ts is None or not earliest <= ts <= latest:
        return None
    if len(obj) == len(_METER_FIELDS):  # so just these fields, if all of them are there
        device = obj.get("meterId")
        kwh = _certain_float(obj.get("kwhConsumedAc"))
        volts = _certain_float(obj.get("voltage"))
        if (
            type(device) is str
            and 0.0 <= kwh <= MAX_KWH
            and 0.0 <= volts <= _MAX_VOLTAGE
            and _DEVICE_ID.fullmatch(device) is not None
        ):
            return MeterReading(device, ts, kwh, volts)
    elif len(obj) == len(_VEHICLE_FIELDS):
        device = obj.get("vehicleId")
        soc = _certain_float(obj.get("soc"))
        kwh = _certain_float(obj.get("kwhDeliveredDc"))
        temp = _certain_float(obj.get("batteryTemp"))
        if (
            type(device) is str
            and 0.0 <= soc <= _MAX_SOC
            and 0.0 <= kwh <= MAX_KWH
            and _MIN_BATTERY_TEMP <= temp <= _MAX_BATTERY_TEMP
            and _DEVICE_ID.fullmatch(device) is not None
        ):
            return VehicleReading(device, ts, soc, kwh, temp)
    return None


def _summary(problems: Sequence[Problem], total: int) -> str:
    first = problems[0].sentence()
    if total == 1:
        return f"Invalid reading: {first}."
    return f"Invalid reading: {first} (and {total - 1} more problem{'s' if total > 2 else ''})."


def parse_reading(obj: Any, window: Window) -> Reading:
    reading = _certain_reading(obj, window.now - window.max_age, window.now + window.max_ahead)
    if reading is not None:
        return reading
    reading, problems = _reading_problems(obj, window)
    if reading is None:
        raise InvalidInput(_summary(problems, len(problems)), problems)
    return reading


def _batch_error(problems: list[Problem], items: int, *, complete: bool) -> InvalidInput:
    """``complete`` is false when checking stopped at ``MAX_PROBLEMS``: the count is then a
    floor, and the time a body of 10,000 bad readings costs is that of the first hundred."""
    bad = len({p.index for p in problems})
    return InvalidInput(
        f"{'' if complete else 'At least '}{bad} of {items} readings"
        f" {'is' if bad == 1 else 'are'} invalid, so none was stored;"
        f" the first: {problems[0].sentence()}.",
        problems[:MAX_PROBLEMS],
    )


_MAX_COMMAS_A_READING: Final = 6
"""Four or five between a reading's fields and one after it, with room to spare."""


def parse_batch_body(body: bytes, ndjson: bool, window: Window) -> list[Reading]:
    """The readings of a batch's body, a JSON array or NDJSON; all or nothing.

    A batch of at most ``MAX_BATCH`` readings holds at most that many objects and a few commas
    a reading, since no valid id or timestamp holds a brace or a comma. Both are counted in C
    before anything is decoded, so that a body of millions of tiny values (``{},{},...``, or
    lines of ``{``) is refused in milliseconds rather than after building millions of objects
    and as many problems. Counting is a pass over the body, so it is left out where the body is
    too short to hold more values than a full batch may: every value takes two bytes or more
    with its separator. An NDJSON body's values are its lines, counted the same way."""
    most = _MAX_COMMAS_A_READING * MAX_BATCH
    if len(body) > 2 * most:
        objects, commas = body.count(b"{"), body.count(b",")
        if objects > MAX_BATCH or commas > most:
            raise InvalidInput(
                f"A batch holds 1 to {MAX_BATCH} readings; this body holds more values than"
                f" that many readings can ({objects} objects, {commas} commas)."
            )
    if ndjson and body.count(b"\n") >= MAX_BATCH and (lines := _lines(body)) > MAX_BATCH:
        raise InvalidInput(
            f"A batch holds 1 to {MAX_BATCH} readings; this body has {lines} lines of values."
        )
    return parse_batch(parse_ndjson(body) if ndjson else parse_json(body), window)


def _lines(body: bytes) -> int:
    """How many lines of ``body`` hold anything but white space, counted in C: the lines of an
    NDJSON body are its values, which need no brace or comma (``[]``, ``1``)."""
    text = body.translate(None, b" \t\r\x0b\x0c")
    while b"\n\n" in text:
        text = text.replace(b"\n\n", b"\n")
    text = text.strip(b"\n")
    return text.count(b"\n") + 1 if text else 0


def parse_batch(items: Any, window: Window) -> list[Reading]:
    """All or nothing: every reading valid, or an error listing up to 100 problems by index."""
    if not isinstance(items, list):
        raise InvalidInput(
            f"A batch must be a JSON array of readings (or NDJSON), not {_json_type(items)}."
        )
    if not 1 <= len(items) <= MAX_BATCH:
        raise InvalidInput(f"A batch holds 1 to {MAX_BATCH} readings; this one has {len(items)}.")
    earliest, latest = window.now - window.max_age, window.now + window.max_ahead
    readings = [_certain_reading(obj, earliest, latest) for obj in items]
    if NoneType not in set(map(type, readings)):  # the usual case, told apart in C
        return cast(list[Reading], readings)
    problems: list[Problem] = []
    for index, reading in enumerate(readings):
        if reading is None:
            readings[index], found = _reading_problems(items[index], window)
            problems.extend(Problem(p.field, p.message, index) for p in found)
            if len(problems) >= MAX_PROBLEMS:
                raise _batch_error(problems, len(items), complete=index + 1 == len(items))
    if problems:
        raise _batch_error(problems, len(items), complete=True)
    return cast(list[Reading], readings)


def parse_link(obj: Any) -> Link:
    if not isinstance(obj, dict):
        raise InvalidInput(f"A link must be a JSON object, not {_json_type(obj)}.")
    problems = [
        Problem(field, "is not a field of a link")
        for field in obj
        if field not in {"vehicleId", "meterId"}
    ]
    values, found = _collect(
        (
            lambda: _required_id(obj, "vehicleId"),
            lambda: _required_id(obj, "meterId"),
        )
    )
    problems += found
    if problems:
        raise InvalidInput(f"Invalid link: {problems[0].sentence()}.", problems)
    return Link(*values)


def _required_id(obj: dict[str, Any], field: str) -> str:
    if field not in obj:
        raise _FieldError(field, "is required")
    return _device_id(obj[field], field)


def parse_hours(raw: str | None, default: int = 24, maximum: int = 720) -> int:
    """The ``?hours=`` window of the analytics endpoints: a whole number from 1 to ``maximum``
    (at most 999)."""
    if raw is None:
        return default
    digits = raw.lstrip("0")
    if not (
        raw.isascii() and raw.isdigit() and len(digits) <= 3 and 1 <= int(digits or "0") <= maximum
    ):
        problem = Problem("hours", f"must be a whole number from 1 to {maximum}")
        raise InvalidInput(f"Invalid query: {problem.sentence()}.", [problem])
    return int(digits)
