"""The monitor's pure parts: figures, bands, paging, the header's sentences, the backoff and
the poll loop, and the command line. No terminal, no network."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest

from monitor.api.errors import BadAnswer, DaemonError, Unreachable
from monitor.api.polling import Backoff, poll_forever
from monitor.api.wire import ListQuery, Page, Readiness
from monitor.cli import build_parser, settings_from, timeout_for
from monitor.ui.logic import bands, figures
from monitor.ui.logic.bands import Band
from monitor.ui.logic.link import Link, describe
from monitor.ui.logic.paging import Pager
from monitor.ui.widgets.bar_chart import draw

T0 = datetime(2026, 2, 9, 10, tzinfo=UTC)


@pytest.mark.parametrize(
    ("ratio", "band"),
    [(None, Band.NONE), (0.79, Band.WARN), (0.80, Band.OK), (1.0, Band.OK), (1.01, Band.BAD)],
)
def test_efficiency_bands(ratio: float | None, band: Band) -> None:
    assert bands.efficiency(ratio) is band


@pytest.mark.parametrize(
    ("volts", "band"),
    [
        (0.0, Band.BAD),
        (206.9, Band.WARN),
        (207.0, Band.OK),
        (253.0, Band.OK),
        (253.1, Band.WARN),
        (None, Band.NONE),
    ],
)
def test_voltage_bands(volts: float | None, band: Band) -> None:
    assert bands.voltage(volts) is band


def test_battery_and_database_bands() -> None:
    assert bands.battery_temp(45.0) is Band.OK
    assert bands.battery_temp(45.1) is Band.WARN
    assert bands.database("ok") is Band.OK
    assert bands.database("unreachable") is Band.BAD


@pytest.mark.parametrize(
    ("seconds", "text"),
    [(0.04, "0.0 s"), (1.25, "1.2 s"), (9.96, "10.0 s"), (42, "42 s"), (185, "3 m 05 s")],
)
def test_ages(seconds: float, text: str) -> None:
    assert figures.age(seconds) == text


@pytest.mark.parametrize(
    ("seconds", "text"), [(3_725, "1 h 02 m"), (90_061, "1 d 01 h"), (-3, "0 s")]
)
def test_durations(seconds: float, text: str) -> None:
    assert figures.duration(seconds) == text


def test_counts_stay_short() -> None:
    assert figures.count(999_999) == "999,999"
    assert figures.count(28_800_000) == "28.8 M"
    assert figures.count(3_000_000_000) == "3.0 G"


def test_missing_values_are_never_zero() -> None:
    assert figures.number(None) == figures.MISSING
    assert figures.ratio(None) == figures.MISSING
    assert figures.milliseconds(None) == figures.MISSING
    assert figures.since(None, T0) == figures.MISSING
    assert figures.number(0.0) == "0.0"


def test_milliseconds() -> None:
    assert figures.milliseconds(0.0042) == "4.2 ms"
    assert figures.milliseconds(0.041) == "41 ms"


def _page(items: int, total: int, cursor: str | None) -> Page[object]:
    return Page(tuple(range(items)), total, cursor, T0, T0)


def test_the_pager_goes_forward_by_cursor_and_back_by_its_memory() -> None:
    first = Pager(ListQuery(limit=100))
    assert first.rows_label(_page(100, 250, "c1")) == "rows 1-100 of 250"
    second = first.forward(_page(100, 250, "c1"))
    assert second is not None
    assert second.query.cursor == "c1"
    third = second.forward(_page(100, 250, "c2"))
    assert third is not None
    assert third.rows_label(_page(50, 250, None)) == "rows 201-250 of 250"
    assert third.forward(_page(50, 250, None)) is None
    back = third.back()
    assert back == second
    assert back is not None
    assert back.back() == first
    assert first.back() is None


def test_any_change_of_the_list_starts_from_its_first_page() -> None:
    deep = Pager(ListQuery(cursor="c2"), passed=(None, "c1"))
    for changed in (
        deep.sorted_by("soc", "desc"),
        deep.filtered("ev"),
        deep.alerts_only(True),
    ):
        assert changed.query.cursor is None
        assert changed.first_row == 1
    assert deep.filtered("ev").query.q == "ev"


def test_an_empty_list_says_so() -> None:
    assert Pager(ListQuery()).rows_label(_page(0, 0, None)) == "no rows of 0"


def test_the_header_says_connecting_then_ready_then_its_age() -> None:
    link = Link()
    assert describe(link, 10.0) == [("… connecting", Band.NONE)]
    link = link.checked(Readiness(True, None)).answered(8.8)
    assert describe(link, 10.0) == [("● ready", Band.OK), ("updated 1.2 s ago", Band.NONE)]


def test_the_header_gives_the_reason_a_daemon_is_not_ready() -> None:
    link = Link().checked(Readiness(False, "database unreachable")).answered(10.0)
    assert describe(link, 10.0) == [
        ("▲ not ready", Band.WARN),
        ("updated 0.0 s ago", Band.NONE),
        ("database unreachable", Band.WARN),
    ]


def test_the_header_says_unreachable_keeps_the_age_and_counts_down_the_retry() -> None:
    link = Link().checked(Readiness(True, None)).answered(10.0)
    link = link.failed(Unreachable("cannot connect (connection refused)"), 12.0, 4.0)
    assert describe(link, 13.0) == [
        ("✖ unreachable", Band.BAD),
        ("updated 3.0 s ago", Band.NONE),
        ("retry in 3.0 s", Band.NONE),
        ("cannot connect (connection refused)", Band.BAD),
    ]
    assert link.readiness is None
    recovered = link.checked(Readiness(True, None)).answered(20.0)
    assert describe(recovered, 20.0)[0] == ("● ready", Band.OK)


def test_an_unusable_answer_is_an_error_not_unreachable() -> None:
    link = Link().failed(BadAnswer("/v1/fleet/summary answered 500: boom"), 1.0, 2.0)
    assert describe(link, 1.0) == [
        ("✖ error", Band.BAD),
        ("retry in 2.0 s", Band.NONE),
        ("/v1/fleet/summary answered 500: boom", Band.BAD),
    ]


def test_backoff_doubles_up_to_its_cap() -> None:
    backoff = Backoff(first_s=2.0, cap_s=15.0)
    assert [backoff.delay_s(n) for n in range(1, 6)] == [2.0, 4.0, 8.0, 15.0, 15.0]
    assert backoff.delay_s(10_000) == 15.0


class _Stop(Exception):
    pass


def test_the_poll_backs_off_while_failing_and_resets_once_answered() -> None:
    outcomes: list[DaemonError | None] = [None, Unreachable("a"), Unreachable("b"), None, None]
    failures: list[tuple[str, float]] = []
    sleeps: list[float] = []

    async def cycle() -> None:
        outcome = outcomes.pop(0)
        if outcome is not None:
            raise outcome

    async def sleep(delay_s: float) -> None:
        sleeps.append(delay_s)
        if not outcomes:
            raise _Stop

    def failed(problem: DaemonError, retry_in_s: float) -> None:
        failures.append((str(problem), retry_in_s))

    with pytest.raises(_Stop):
        asyncio.run(
            poll_forever(cycle, failed, every_s=1.0, backoff=Backoff(1.0, 3.0), sleep=sleep)
        )
    assert failures == [("a", 1.0), ("b", 2.0)]
    assert sleeps == [1.0, 1.0, 2.0, 1.0, 1.0]


def test_a_bug_in_a_cycle_is_not_taken_for_a_daemon_problem() -> None:
    async def cycle() -> None:
        raise KeyError("bug")

    async def sleep(delay_s: float) -> None:
        raise AssertionError("never reached")

    with pytest.raises(KeyError):
        asyncio.run(
            poll_forever(cycle, lambda *_: None, every_s=1, backoff=Backoff(1, 2), sleep=sleep)
        )


def test_the_url_comes_from_the_flag_then_the_environment_then_the_default() -> None:
    environ = {"INGEST_MONITOR_URL": "http://daemon:3000/"}
    assert settings_from([], {})[0].url == "http://127.0.0.1:3000"
    assert settings_from([], environ)[0].url == "http://daemon:3000"
    assert settings_from(["--url", "https://other:8443"], environ)[0].url == "https://other:8443"
    assert settings_from(["--refresh-s", "0.5"], {})[0].refresh_s == 0.5


def test_the_token_comes_from_the_flag_then_the_environment() -> None:
    environ = {"INGEST_MONITOR_TOKEN": "from-the-environment"}
    assert settings_from([], {})[1] is None
    assert settings_from([], environ)[1] == "from-the-environment"
    assert settings_from(["--token", "from-the-flag"], environ)[1] == "from-the-flag"
    assert "from-the" not in repr(settings_from([], environ)[0])


@pytest.mark.parametrize(
    ("argv", "environ", "said"),
    [
        (["--refresh-s", "0"], {}, "--refresh-s: expected a number of seconds above 0"),
        (["--refresh-s", "soon"], {}, "--refresh-s: expected a number of seconds above 0"),
        (["--refresh-s", "inf"], {}, "--refresh-s: expected a number of seconds above 0"),
        (["--url", "localhost:3000"], {}, "--url: expected an http:// or https:// URL"),
        ([], {"INGEST_MONITOR_URL": "ftp://x"}, "INGEST_MONITOR_URL: expected an http://"),
    ],
)
def test_a_bad_value_exits_2_with_a_sentence(
    argv: list[str], environ: dict[str, str], said: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exit_:
        settings_from(argv, environ)
    assert exit_.value.code == 2
    assert said in capsys.readouterr().err


def test_help_names_the_flags_and_the_environment() -> None:
    text = build_parser().format_help()
    for word in ("--url", "--refresh-s", "INGEST_MONITOR_URL", "INGEST_MONITOR_TOKEN"):
        assert word in text


def test_the_timeout_stays_below_the_refresh_within_bounds() -> None:
    assert timeout_for(2.0) == pytest.approx(1.8)
    assert timeout_for(0.2) == 1.0
    assert timeout_for(60) == 5.0


def test_ages_of_timestamps_use_the_given_now() -> None:
    assert figures.since(T0 - timedelta(seconds=75), T0) == "1 m 15 s"


def _lines(back: list[float], front: list[float], labels: list[str], width: int) -> list[str]:
    chart = draw(back, front, labels, width=width, height=5, styles=("blue", "green"))
    return chart.plain.split("\n")


def test_the_taller_bar_shows_above_the_shorter_one_in_front() -> None:
    assert _lines([2.0], [1.0], ["00"], width=10) == [
        "2┤███████ ",
        "1┤███████ ",
        " │███████ ",
        "0┤███████ ",
        "  00",
    ]
    chart = draw([2.0], [1.0], ["00"], width=10, height=5, styles=("blue", "green"))
    top, _, _, bottom, _ = chart.split("\n")
    assert {str(span.style) for span in top.spans if span.start >= 2} == {"blue"}
    assert {str(span.style) for span in bottom.spans if span.start >= 2} == {"green"}


def test_values_between_cells_are_drawn_in_eighths_and_idle_hours_are_empty() -> None:
    assert _lines([0.0, 1.0], [0.0, 0.3], ["00", "01"], width=12) == [
        "  1┤    ███ ",
        "0.5┤    ███ ",
        "   │    ▂▂▂ ",
        "  0┤    ███ ",
        "    00  01",
    ]


def test_hour_labels_thin_out_when_bars_are_narrow() -> None:
    labels = [f"{hour:02d}" for hour in range(24)]
    last = _lines([1.0] * 24, [0.9] * 24, labels, width=26)[-1]
    assert last.split() == labels[::3]
