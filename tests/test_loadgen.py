"""The load generator's arithmetic and bookkeeping, without a network: pacing, faults,
retries and giving up, the ledger's windows, statistics and the comparisons of verification."""

from __future__ import annotations

import json
from collections import Counter
from datetime import UTC, datetime, timedelta

import pytest

from loadgen.engine.delivery import Outcome, outcome
from loadgen.engine.retry import BACKOFF_CAP_S, GiveUp, Patience, Retry, decide
from loadgen.results.stats import Stats
from loadgen.results.verify import compare_performance, compare_status
from loadgen.simulation.fleet import build_sites
from loadgen.simulation.ledger import ExpectedPerformance, ExpectedStatus, Kind, Ledger
from loadgen.simulation.plan import (
    Faults,
    Pacing,
    Request,
    first_minute,
    minutes_for,
    plan,
    readings_for,
)

T0 = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)


def _ledger(sites: int = 5) -> Ledger:
    return Ledger(build_sites(7, T0, range(sites)), T0)


# --- pacing ------------------------------------------------------------------------------


def test_rate_pacing_is_open_loop_by_reading_index() -> None:
    pacing = Pacing("rate", rate=200.0)
    assert pacing.due(minute=0, last_reading=1) == pytest.approx(0.005)
    assert pacing.due(minute=3, last_reading=1000) == pytest.approx(5.0)


def test_realtime_pacing_is_the_minute_boundary() -> None:
    pacing = Pacing("realtime", first_minute_s=12.5)
    assert pacing.due(minute=0, last_reading=999) == 12.5
    assert pacing.due(minute=2, last_reading=1) == 132.5


def test_realtime_requests_belong_to_the_burst_of_the_minute_they_are_sent_in() -> None:
    faults = Faults(out_of_order=0.2)
    pacing = Pacing("realtime", first_minute_s=5.0)
    requests = list(plan(_ledger(5), 3, batch=4, pacing=pacing, faults=faults, seed=1))
    assert {r.burst for r in requests} == {0, 1, 2}
    assert all(r.release_s == 5.0 + 60.0 * (r.burst or 0) for r in requests)
    replay = plan(_ledger(5), 3, batch=4, pacing=Pacing("replay"), faults=faults, seed=1)
    assert {r.burst for r in replay} == {None}


def test_replay_pacing_is_as_fast_as_possible() -> None:
    assert Pacing("replay").due(minute=5, last_reading=10) is None


def test_window_arithmetic() -> None:
    assert readings_for(1500.0, 10.0) == 15_000
    assert minutes_for(15_000, 10_000) == 1
    assert minutes_for(20_001, 10_000) == 2
    now = datetime(2026, 11, 26, 10, 30, 42, 123, tzinfo=UTC)
    start = first_minute(now, 60)
    assert start == datetime(2026, 11, 26, 9, 31, tzinfo=UTC)
    assert start + timedelta(minutes=59) <= now


# --- plans ---------------------------------------------------------------------------------


def _sent(requests: list[Request]) -> Counter[tuple[int, int, Kind]]:
    return Counter(ref for request in requests for ref in request.refs)


def test_plan_sends_every_reading_once_in_batches() -> None:
    ledger = _ledger(5)
    requests = list(plan(ledger, 10, batch=7, pacing=Pacing("replay"), faults=Faults(), seed=1))
    sent = _sent(requests)
    assert len(sent) == 5 * 10 * 2
    assert set(sent.values()) == {1}
    assert all(len(r.refs) <= 7 and r.batch and r.expect == 201 for r in requests)
    first = json.loads(requests[0].body)
    assert first[0]["meterId"] == ledger.sites[0].spec.meter_id
    assert first[0]["timestamp"] == "2026-11-20T12:00:00Z"


def test_single_posts_carry_one_reading_each() -> None:
    requests = list(plan(_ledger(2), 3, batch=0, pacing=Pacing("replay"), faults=Faults(), seed=1))
    assert len(requests) == 2 * 3 * 2
    assert all(not r.batch and len(r.refs) == 1 for r in requests)
    assert isinstance(json.loads(requests[0].body), dict)


def test_faults_reorder_and_repeat_but_never_lose_data() -> None:
    faults = Faults(out_of_order=0.2, duplicates=0.1, invalid=0.05, clock_ahead=0.05)
    requests = list(plan(_ledger(10), 30, batch=25, pacing=Pacing("replay"), faults=faults, seed=3))
    sent = _sent(requests)
    assert len(sent) == 10 * 30 * 2, "every reading of the data set goes out"
    assert max(sent.values()) == 2, "duplicates go out twice"
    assert sum(1 for n in sent.values() if n == 2) > 0
    order = [ref for r in requests for ref in r.refs]
    assert order != sorted(order, key=lambda ref: (ref[1], ref[0], ref[2])), "reordered"
    faulty = [r for r in requests if r.expect == 400]
    assert faulty
    assert all(not r.refs and not r.batch for r in faulty)
    ahead = [json.loads(r.body) for r in faulty]
    assert any(p.get("timestamp") == "2026-11-20T13:29:00Z" for p in ahead), "newest minute + 1 h"


def test_plans_are_deterministic() -> None:
    def bodies(seed: int) -> list[bytes]:
        faults = Faults(out_of_order=0.1, duplicates=0.1, invalid=0.1)
        return [
            r.body
            for r in plan(_ledger(3), 5, batch=4, pacing=Pacing("replay"), faults=faults, seed=seed)
        ]

    assert bodies(1) == bodies(1)
    assert bodies(1) != bodies(2)


def test_rate_plan_stops_at_its_reading_limit() -> None:
    requests = list(
        plan(
            _ledger(5),
            4,
            batch=3,
            pacing=Pacing("rate", rate=10.0),
            faults=Faults(),
            seed=1,
            limit=17,
        )
    )
    assert sum(len(r.refs) for r in requests) == 17
    dues = [r.release_s for r in requests]
    assert None not in dues
    assert dues == sorted(d for d in dues if d is not None)
    assert dues[0] == pytest.approx(0.3)


# --- retries and giving up ------------------------------------------------------------------


def _decide(
    status: int | None, retry_after: str | None = None, *, attempt: int = 1, waited_s: float = 0.0
) -> Retry | GiveUp | None:
    return decide(status, retry_after, attempt=attempt, waited_s=waited_s, give_up_s=60.0)


def test_503_is_retried_after_its_retry_after() -> None:
    assert _decide(503, "3") == Retry(3.0)
    assert _decide(503, "30", attempt=9) == Retry(30.0), "the engine's word, not the cap"


def test_503_without_a_usable_retry_after_backs_off_like_a_failed_connection() -> None:
    assert _decide(503, None) == _decide(None) == Retry(0.25)
    assert _decide(503, "soon", attempt=2) == Retry(0.5)


def test_failed_connections_back_off_doubling_up_to_a_cap() -> None:
    delays = [_decide(None, attempt=n) for n in range(1, 10)]
    assert delays[:4] == [Retry(0.25), Retry(0.5), Retry(1.0), Retry(2.0)]
    assert delays[-1] == Retry(BACKOFF_CAP_S)


def test_a_request_retried_past_the_give_up_time_is_given_up() -> None:
    assert _decide(503, "5", waited_s=58.0) == GiveUp()
    assert _decide(None, attempt=20, waited_s=56.0) == GiveUp()
    assert _decide(None, attempt=20, waited_s=50.0) == Retry(BACKOFF_CAP_S)


@pytest.mark.parametrize("status", [200, 201, 204, 400, 404, 413, 500])
def test_other_answers_are_final(status: int) -> None:
    assert _decide(status, "1") is None


@pytest.mark.parametrize(
    ("status", "expect", "result"),
    [
        (201, 201, Outcome.EXPECTED),
        (400, 400, Outcome.EXPECTED),
        (400, 201, Outcome.UNEXPECTED),
        (201, 400, Outcome.UNEXPECTED),
        (500, 201, Outcome.UNEXPECTED),
        (413, 201, Outcome.UNEXPECTED),
        (None, 201, Outcome.UNCERTAIN),
    ],
)
def test_final_answers(status: int | None, expect: int, result: Outcome) -> None:
    assert outcome(status, expect) is result


def test_patience_runs_only_while_nothing_is_answered() -> None:
    patience = Patience(give_up_s=60.0)
    assert patience.silent_s(100.0) == 0.0
    patience.failed(tried_at=100.0, cause="connection refused")
    patience.failed(tried_at=130.0, cause="connection refused")
    assert patience.silent_s(150.0) == 50.0
    assert not patience.exhausted(159.0)
    assert patience.exhausted(160.0)
    patience.answered(161.0)
    assert patience.silent_s(200.0) == 0.0


def test_patience_counts_a_hung_try_from_its_start_but_not_before_the_last_answer() -> None:
    patience = Patience(give_up_s=60.0)
    patience.answered(10.0)
    patience.failed(tried_at=0.0, cause="no answer in time")
    assert patience.silent_s(70.0) == 60.0, "from the last answer, not from the try"
    patience.answered(80.0)
    patience.failed(tried_at=85.0, cause="no answer in time")
    assert patience.silent_s(145.0) == 60.0, "from the try"
    assert patience.last_failure == "no answer in time"


# --- ledger -------------------------------------------------------------------------------


def _filled(minutes: int = 10) -> Ledger:
    ledger = _ledger(1)
    for _ in range(minutes):
        meter, vehicle = ledger.sites[0].step()
        ledger.record(0, meter, vehicle)
    return ledger


def test_minutes_in_is_open_at_the_start_and_closed_at_the_end() -> None:
    ledger = _filled()
    assert ledger.minutes_in(T0, T0 + timedelta(minutes=3)) == range(1, 4)
    assert ledger.minutes_in(T0 - timedelta(seconds=1), T0) == range(1)
    assert ledger.minutes_in(T0 - timedelta(hours=1), T0 - timedelta(minutes=1)) == range(0)


def test_performance_sums_only_acknowledged_readings_in_the_window() -> None:
    ledger = _filled()
    for minute in (2, 3, 5):
        ledger.acked(0, minute, Kind.METER)
        ledger.acked(0, minute, Kind.VEHICLE)
    ledger.acked(0, 5, Kind.VEHICLE)  # a duplicate acknowledgement counts once
    book = ledger._books[0]
    expected = ledger.performance(0, T0, T0 + timedelta(minutes=4))
    assert expected is not None
    assert expected.meter_readings == 2
    assert expected.vehicle_readings == 2
    assert expected.ac_kwh == pytest.approx(book.ac[2] + book.ac[3])
    assert expected.dc_kwh == pytest.approx(book.dc[2] + book.dc[3])
    assert expected.avg_battery_temp == pytest.approx((book.temp[2] + book.temp[3]) / 2)


def test_uncertain_readings_make_a_window_unverifiable() -> None:
    ledger = _filled()
    ledger.acked(0, 1, Kind.METER)
    ledger.uncertain(0, 4, Kind.VEHICLE)
    assert ledger.performance(0, T0, T0 + timedelta(minutes=9)) is None
    assert ledger.performance(0, T0, T0 + timedelta(minutes=3)) is not None
    assert ledger.has_uncertain(0)


def test_status_is_the_newest_acknowledged_reading_whatever_the_order() -> None:
    ledger = _filled()
    for minute in (6, 2, 4):
        ledger.acked(0, minute, Kind.VEHICLE)
    status = ledger.status(0, Kind.VEHICLE)
    assert status is not None
    assert status.ts == T0 + timedelta(minutes=6)
    assert status.values["soc"] == ledger._books[0].soc[6]
    assert ledger.status(0, Kind.METER) is None


# --- statistics and verification -------------------------------------------------------------


def test_percentiles_are_within_one_percent_and_merge() -> None:
    stats = Stats()
    for ms in range(1, 1001):
        stats.observe(ms / 1000)
    p50, p99 = stats.percentile(0.5), stats.percentile(0.99)
    assert p50 is not None
    assert p99 is not None
    assert p50 == pytest.approx(0.5, rel=0.011)
    assert p99 == pytest.approx(0.99, rel=0.011)
    assert stats.percentile(1.0) == pytest.approx(1.0)
    other = Stats.from_json(json.loads(json.dumps(stats.to_json())))
    other.statuses["201"] += 3
    stats.merge(other)
    assert sum(stats.latency_buckets.values()) == 2000
    assert stats.statuses["201"] == 3
    assert stats.percentile(0.5) == pytest.approx(p50)
    assert Stats().percentile(0.5) is None


def test_status_comparison_finds_each_difference() -> None:
    expected = ExpectedStatus(T0, {"soc": 50.5, "battery_temp": 30.0})
    same = {"ts": "2026-11-20T12:00:00.000Z", "soc": 50.5, "battery_temp": 30.0}
    assert compare_status("v-1", expected, same) == []
    wrong = {**same, "soc": 50.4, "ts": "2026-11-20T12:01:00.000Z"}
    assert {m.what for m in compare_status("v-1", expected, wrong)} == {"status soc", "status ts"}
    assert compare_status("v-1", expected, None)[0].got == "404"
    assert compare_status("v-1", None, None) == []


def test_performance_comparison_tolerates_summation_order_only() -> None:
    expected = ExpectedPerformance(15.0, 12.0, 32.0, 2, 2)
    got = {
        "totalEnergyConsumedAc": 15.000000000000002,
        "totalEnergyDeliveredDc": 12.0,
        "efficiencyRatio": 0.8,
        "avgBatteryTemp": 32.0,
        "vehicleReadings": 2,
        "meterReadings": 2,
    }
    assert compare_performance("v-1", expected, got) == []
    off = {**got, "totalEnergyConsumedAc": 15.001, "meterReadings": 3}
    assert {m.what for m in compare_performance("v-1", expected, off)} == {
        "totalEnergyConsumedAc",
        "meterReadings",
    }
    none = ExpectedPerformance(0.0, 0.0, None, 0, 0)
    assert (
        compare_performance(
            "v-1",
            none,
            {
                **got,
                "totalEnergyConsumedAc": 0,
                "totalEnergyDeliveredDc": 0,
                "efficiencyRatio": None,
                "avgBatteryTemp": None,
                "vehicleReadings": 0,
                "meterReadings": 0,
            },
        )
        == []
    )
