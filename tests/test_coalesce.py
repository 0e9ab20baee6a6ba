"""ShardBatch: what a shard writer holds between two commits, and the rows it turns into.

History keeps one row per (device, timestamp), the last received winning; latest state keeps
one row per device, the newest timestamp winning and ties going to the last received.
"""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta, timezone

import pytest

from daemon.ingest.batch import FlushRows, MeterRows, ShardBatch, VehicleRows
from daemon.readings import MeterReading, Reading, VehicleReading

T0 = datetime(2026, 2, 9, 10, 0, tzinfo=UTC)


def _history_rows(rows: FlushRows) -> int:
    return len(rows.meter_history.ts) + len(rows.vehicle_history.ts)


def at(minute: int) -> datetime:
    return T0 + timedelta(minutes=minute)


def meter(device: str, minute: int, kwh: float = 1.0, voltage: float = 230.0) -> MeterReading:
    return MeterReading(device_id=device, ts=at(minute), kwh_consumed_ac=kwh, voltage=voltage)


def vehicle(
    device: str, minute: int, soc: float = 50.0, kwh: float = 1.0, temp: float = 25.0
) -> VehicleReading:
    return VehicleReading(
        device_id=device, ts=at(minute), soc=soc, kwh_delivered_dc=kwh, battery_temp=temp
    )


def batch_of(*readings: Reading) -> ShardBatch:
    batch = ShardBatch()
    for reading in readings:
        batch.add(reading)
    return batch


def meter_rows(rows: MeterRows) -> list[tuple[str, datetime, float, float]]:
    """Columns zipped back into rows, after checking they are aligned."""
    columns = (rows.meter_ids, rows.ts, rows.kwh_consumed_ac, rows.voltage)
    assert len({len(column) for column in columns}) == 1, columns
    return list(zip(*columns, strict=True))


def vehicle_rows(rows: VehicleRows) -> list[tuple[str, datetime, float, float, float]]:
    columns = (rows.vehicle_ids, rows.ts, rows.soc, rows.kwh_delivered_dc, rows.battery_temp)
    assert len({len(column) for column in columns}) == 1, columns
    return list(zip(*columns, strict=True))


# --- history -------------------------------------------------------------------------------


def test_empty_batch_has_no_rows() -> None:
    batch = ShardBatch()

    rows = batch.rows()

    assert len(batch) == 0
    assert batch.received == 0
    assert _history_rows(rows) == 0
    assert meter_rows(rows.meter_history) == []
    assert vehicle_rows(rows.vehicle_history) == []
    assert meter_rows(rows.meter_latest) == []
    assert vehicle_rows(rows.vehicle_latest) == []


def test_meter_history_keeps_one_row_per_device_and_timestamp_last_received_wins() -> None:
    batch = batch_of(
        meter("m1", 0, kwh=1.0, voltage=220.0),
        meter("m1", 1, kwh=5.0),
        meter("m1", 0, kwh=2.0, voltage=221.0),
        meter("m1", 0, kwh=3.0, voltage=222.0),
    )

    assert meter_rows(batch.rows().meter_history) == [
        ("m1", at(0), 3.0, 222.0),
        ("m1", at(1), 5.0, 230.0),
    ]
    assert len(batch) == 2
    assert batch.received == 4


def test_vehicle_history_keeps_one_row_per_device_and_timestamp_last_received_wins() -> None:
    batch = batch_of(
        vehicle("v1", 2, soc=10.0, kwh=0.1, temp=20.0),
        vehicle("v1", 2, soc=11.0, kwh=0.2, temp=21.0),
        vehicle("v2", 2, soc=90.0),
    )

    assert vehicle_rows(batch.rows().vehicle_history) == [
        ("v1", at(2), 11.0, 0.2, 21.0),
        ("v2", at(2), 90.0, 1.0, 25.0),
    ]
    assert len(batch) == 2
    assert batch.received == 3


def test_same_instant_in_another_offset_is_the_same_row() -> None:
    india = timezone(timedelta(hours=5, minutes=30))
    local = MeterReading("m1", at(0).astimezone(india), kwh_consumed_ac=9.0, voltage=231.0)
    batch = batch_of(meter("m1", 0, kwh=1.0), local)

    (row,) = meter_rows(batch.rows().meter_history)

    assert row[1] == at(0)
    assert row[2:] == (9.0, 231.0)
    assert len(batch) == 1


def test_same_device_at_different_timestamps_keeps_every_row() -> None:
    batch = batch_of(*(meter("m1", minute, kwh=float(minute)) for minute in range(10)))

    rows = batch.rows().meter_history

    assert rows.ts == [at(minute) for minute in range(10)]
    assert rows.kwh_consumed_ac == [float(minute) for minute in range(10)]
    assert len(batch) == 10


# --- latest --------------------------------------------------------------------------------


def test_latest_keeps_the_newest_timestamp_per_device() -> None:
    batch = batch_of(
        meter("m1", 1, kwh=1.0),
        meter("m1", 5, kwh=5.0),
        meter("m2", 3, kwh=3.0),
        meter("m1", 2, kwh=2.0),
    )

    assert meter_rows(batch.rows().meter_latest) == [
        ("m1", at(5), 5.0, 230.0),
        ("m2", at(3), 3.0, 230.0),
    ]


def test_older_reading_after_a_newer_one_goes_to_history_only() -> None:
    batch = batch_of(vehicle("v1", 10, soc=80.0), vehicle("v1", 3, soc=30.0))

    rows = batch.rows()

    assert vehicle_rows(rows.vehicle_latest) == [("v1", at(10), 80.0, 1.0, 25.0)]
    assert rows.vehicle_history.ts == [at(3), at(10)]
    assert rows.vehicle_history.soc == [30.0, 80.0]


def test_newer_reading_replaces_the_latest() -> None:
    batch = batch_of(vehicle("v1", 3, soc=30.0), vehicle("v1", 10, soc=80.0))

    assert vehicle_rows(batch.rows().vehicle_latest) == [("v1", at(10), 80.0, 1.0, 25.0)]


@pytest.mark.parametrize(
    "kind", [pytest.param("meter", id="meter"), pytest.param("vehicle", id="vehicle")]
)
def test_equal_timestamps_last_received_wins_in_latest_and_history(kind: str) -> None:
    if kind == "meter":
        batch = batch_of(meter("d1", 4, kwh=1.0), meter("d1", 4, kwh=2.0))
        rows = batch.rows()
        assert rows.meter_latest.kwh_consumed_ac == [2.0]
        assert rows.meter_history.kwh_consumed_ac == [2.0]
    else:
        batch = batch_of(vehicle("d1", 4, soc=1.0), vehicle("d1", 4, soc=2.0))
        rows = batch.rows()
        assert rows.vehicle_latest.soc == [2.0]
        assert rows.vehicle_history.soc == [2.0]


def test_replacing_an_older_duplicate_does_not_move_latest_back() -> None:
    batch = batch_of(meter("m1", 1, kwh=1.0), meter("m1", 2, kwh=2.0), meter("m1", 1, kwh=9.0))

    rows = batch.rows()

    assert meter_rows(rows.meter_latest) == [("m1", at(2), 2.0, 230.0)]
    assert rows.meter_history.kwh_consumed_ac == [9.0, 2.0]


@pytest.mark.parametrize("seed", [0, 1, 7, 42, 2026])
def test_shuffled_readings_leave_the_newest_as_latest(seed: int) -> None:
    readings = [vehicle("v1", minute, soc=float(minute)) for minute in range(50)]
    random.Random(seed).shuffle(readings)
    # The newest must not come last, or the test would not show that older ones lose.
    assert readings[-1].ts != at(49)
    batch = batch_of(*readings)

    rows = batch.rows()

    assert vehicle_rows(rows.vehicle_latest) == [("v1", at(49), 49.0, 1.0, 25.0)]
    assert rows.vehicle_history.ts == [at(minute) for minute in range(50)]
    assert rows.vehicle_history.soc == [float(minute) for minute in range(50)]
    assert len(batch) == batch.received == 50


# --- kinds, counts, rows -------------------------------------------------------------------


def test_meters_and_vehicles_are_kept_apart_even_with_the_same_id_and_timestamp() -> None:
    batch = batch_of(meter("dev-1", 0, kwh=7.0), vehicle("dev-1", 0, soc=70.0))

    rows = batch.rows()

    assert meter_rows(rows.meter_history) == [("dev-1", at(0), 7.0, 230.0)]
    assert vehicle_rows(rows.vehicle_history) == [("dev-1", at(0), 70.0, 1.0, 25.0)]
    assert rows.meter_latest.meter_ids == ["dev-1"]
    assert rows.vehicle_latest.vehicle_ids == ["dev-1"]
    assert len(batch) == 2


@pytest.mark.parametrize(
    ("readings", "distinct"),
    [
        pytest.param([meter("m1", 0)], 1, id="one"),
        pytest.param([meter("m1", 0)] * 5, 1, id="same-reading-five-times"),
        pytest.param([meter("m1", 0), meter("m1", 1), meter("m2", 0)], 3, id="all-distinct"),
        pytest.param(
            [meter("m1", 0), vehicle("v1", 0), meter("m1", 0, kwh=2.0), vehicle("v1", 1)],
            3,
            id="mixed-with-one-duplicate",
        ),
        pytest.param(
            [vehicle("v1", minute % 3) for minute in range(12)], 3, id="three-keys-four-times"
        ),
    ],
)
def test_len_counts_distinct_rows_and_received_counts_everything(
    readings: list[Reading], distinct: int
) -> None:
    batch = batch_of(*readings)

    assert len(batch) == distinct
    assert batch.received == len(readings)
    assert _history_rows(batch.rows()) == distinct


def test_rows_are_aligned_and_sorted_by_device_then_timestamp() -> None:
    devices = ["m-b", "m-a", "m-c", "m-10", "m-2", "M-z"]
    minutes = [7, 0, 3]
    readings = [
        meter(device, minute, kwh=float(10 * index + minute), voltage=200.0 + minute)
        for index, device in enumerate(devices)
        for minute in minutes
    ]
    random.Random(5).shuffle(readings)
    batch = batch_of(*readings)

    rows = batch.rows()

    expected = sorted(
        (r.device_id, r.ts, r.kwh_consumed_ac, r.voltage) for r in readings
    )  # unique keys, so sorting the tuples sorts by (device, ts)
    assert meter_rows(rows.meter_history) == expected
    assert rows.meter_history.meter_ids == sorted(rows.meter_history.meter_ids)
    assert rows.meter_history.meter_ids[:3] == ["M-z"] * 3  # code point order: upper case first
    assert rows.meter_latest.meter_ids == sorted(devices)
    assert rows.meter_latest.ts == [at(7)] * len(devices)
    assert meter_rows(rows.meter_latest) == [row for row in expected if row[1] == at(7)]


def test_vehicle_rows_are_aligned_and_sorted_by_device_then_timestamp() -> None:
    readings = [
        vehicle("v2", 5, soc=25.0, kwh=2.5, temp=5.0),
        vehicle("v1", 9, soc=19.0, kwh=1.9, temp=9.0),
        vehicle("v2", 1, soc=21.0, kwh=2.1, temp=1.0),
        vehicle("v1", 2, soc=12.0, kwh=1.2, temp=2.0),
    ]
    batch = batch_of(*readings)

    rows = batch.rows()

    assert vehicle_rows(rows.vehicle_history) == [
        ("v1", at(2), 12.0, 1.2, 2.0),
        ("v1", at(9), 19.0, 1.9, 9.0),
        ("v2", at(1), 21.0, 2.1, 1.0),
        ("v2", at(5), 25.0, 2.5, 5.0),
    ]
    assert vehicle_rows(rows.vehicle_latest) == [
        ("v1", at(9), 19.0, 1.9, 9.0),
        ("v2", at(5), 25.0, 2.5, 5.0),
    ]


def test_history_rows_count_meter_and_vehicle_history() -> None:
    batch = batch_of(
        meter("m1", 0),
        meter("m1", 1),
        meter("m1", 1, kwh=3.0),
        vehicle("v1", 0),
        vehicle("v2", 0),
        vehicle("v3", 0),
    )

    rows = batch.rows()

    assert isinstance(rows, FlushRows)
    assert _history_rows(rows) == 5 == len(batch)
    assert len(rows.meter_history.ts) == 2
    assert len(rows.vehicle_history.ts) == 3
    assert len(rows.meter_latest.ts) + len(rows.vehicle_latest.ts) == 4


def test_history_rows_of_hand_built_rows() -> None:
    rows = FlushRows(
        meter_history=MeterRows.of([meter("m1", 0), meter("m2", 0)]),
        vehicle_history=VehicleRows.of([vehicle("v1", 0)]),
        meter_latest=MeterRows.of([]),
        vehicle_latest=VehicleRows.of([vehicle("v1", 0), vehicle("v2", 0)]),
    )

    assert _history_rows(rows) == 3


def test_rows_can_be_taken_twice_and_adding_after_rows_is_seen_next_time() -> None:
    batch = batch_of(meter("m1", 0, kwh=1.0))
    first = batch.rows()

    batch.add(meter("m1", 0, kwh=2.0))
    second = batch.rows()

    assert first.meter_history.kwh_consumed_ac == [1.0]
    assert second.meter_history.kwh_consumed_ac == [2.0]
    assert second.meter_latest.kwh_consumed_ac == [2.0]
    assert batch.received == 2
