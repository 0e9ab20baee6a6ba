"""The load generator's command line and what it prints, without a network: each mode's own
help, options refused by name where they do not apply, usage errors in one line, durations
as a person says them, and a realtime run's rates over the time it really sent."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from loadgen import options
from loadgen.results import report
from loadgen.results.stats import Stats
from loadgen.results.verify import Verification


def _usage_error(capsys: pytest.CaptureFixture[str], *argv: str) -> str:
    with pytest.raises(SystemExit) as exited:
        options.parse(argv, environ={})
    assert exited.value.code == 2
    err = capsys.readouterr().err
    assert len(err.splitlines()) == 1, err
    return err


@pytest.mark.parametrize("mode", ["replay", "realtime", "rate"])
def test_every_mode_has_its_own_help_with_the_default_url(
    capsys: pytest.CaptureFixture[str], mode: str
) -> None:
    with pytest.raises(SystemExit) as exited:
        options.parse([mode, "--help"], environ={})
    assert exited.value.code == 0
    text = " ".join(capsys.readouterr().out.split())
    assert f"usage: ingest-loadgen {mode}" in text
    assert f"default: {options.DEFAULT_URL}" in text
    assert ("--hours" in text) == (mode == "replay")
    assert ("--rate RATE" in text) == (mode == "rate")
    assert ("--duration-s" in text) == (mode != "replay")


def test_the_top_level_help_lists_the_modes_and_the_exit_statuses(
    capsys: pytest.CaptureFixture[str],
) -> None:
    with pytest.raises(SystemExit):
        options.parse(["--help"], environ={})
    text = " ".join(capsys.readouterr().out.split())
    assert all(mode in text for mode in ("replay", "realtime", "rate"))
    assert "exit status: 0" in text


@pytest.mark.parametrize(
    ("argv", "option", "mode"),
    [
        (["replay", "--rate", "5"], "--rate", "replay"),
        (["replay", "--duration-s=30"], "--duration-s", "replay"),
        (["realtime", "--hours", "2"], "--hours", "realtime"),
        (["rate", "--rate", "5", "--hours", "2"], "--hours", "rate"),
    ],
)
def test_an_option_of_another_mode_is_refused_by_name(
    capsys: pytest.CaptureFixture[str], argv: list[str], option: str, mode: str
) -> None:
    err = _usage_error(capsys, *argv)
    assert f"{option} does not apply to {mode}" in err


def test_usage_errors_say_what_is_wrong_in_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    assert "unrecognized arguments: --bogus" in _usage_error(capsys, "replay", "--bogus")
    assert "required: --rate" in _usage_error(capsys, "rate")
    assert "expected http://host:port" in _usage_error(capsys, "replay", "--url", "localhost:3000")
    assert "does not exist" in _usage_error(capsys, "replay", "--json", "/no/such/dir/out.json")
    assert "options go after the mode" in _usage_error(capsys, "--sites", "5", "replay")


def test_the_token_comes_from_the_environment_and_is_never_echoed(
    capsys: pytest.CaptureFixture[str],
) -> None:
    environ = {"INGEST_TOKEN": "from-the-environment"}
    flag = ["--token", "from-a-flag"]
    assert options.parse(["replay"], environ=environ).token == environ["INGEST_TOKEN"]
    assert options.parse(["replay", *flag], environ=environ).token == flag[1], "the flag wins"
    assert options.parse(["replay"], environ={}).token is None
    err = _usage_error(capsys, "replay", "--token", "with space")
    assert "with space" not in err


def test_a_verify_sample_means_verify() -> None:
    args = options.parse(["replay", "--verify-sample", "10"], environ={})
    assert args.verify
    assert not options.parse(["replay"], environ={}).verify


def test_give_up_defaults_to_a_minute() -> None:
    assert options.parse(["replay"], environ={}).give_up_s == 60.0


@pytest.mark.parametrize(
    ("seconds", "text"),
    [
        (0.25, "0.2 s"),
        (2.5, "2.5 s"),
        (30.0, "30 s"),
        (59.6, "1 min"),
        (60.0, "1 min"),
        (90.4, "1 min 30 s"),
        (3600.0, "1 h"),
        (86_400.0, "24 h"),
        (5_430.0, "1 h 30 min"),
    ],
)
def test_durations_read_as_a_person_says_them(seconds: float, text: str) -> None:
    assert report.duration(seconds) == text


def test_a_half_minute_realtime_run_is_not_one_minutes() -> None:
    line = report.start_line(
        "realtime",
        sites=10_000,
        t0=datetime(2026, 11, 20, 12, 1, tzinfo=UTC),
        minutes=1,
        duration_s=30.0,
        rate=None,
        batch=500,
        in_flight="64 in flight",
    )
    assert "for 30 s" in line
    assert "1 burst from 12:01 UTC" in line
    assert "minutes" not in line


def _realtime_stats() -> Stats:
    """Two bursts of 10,000 readings, each answered within 2 s of its minute boundary, after
    50 s of waiting for the first boundary."""
    stats = Stats(readings_sent=20_000, readings_acked=20_000, requests=40)
    stats.elapsed_s = 50.0 + 60.0 + 2.0
    stats.window_s = 62.0
    stats.burst(0, 10_000, 2.0)
    stats.burst(1, 6_000, 1.5)
    stats.burst(1, 4_000, 2.0)
    return stats


def test_a_realtime_run_reports_its_burst_rate_not_its_wait() -> None:
    result = report.summary(_realtime_stats(), None)
    assert result["bursts"] == {"count": 2, "readings_per_s": 5_000.0, "longest_s": 2.0}
    assert result["readings_per_s"] == round(20_000 / 62.0, 1), "over the sending window"
    assert result["readings_per_s_overall"] == round(20_000 / 112.0, 1)
    table = report.table(result)
    assert "readings per second, in bursts" in table
    assert "5,000.0" in table
    assert "sending window" in table
    assert "1 min 2 s" in table


def test_bursts_merge_across_processes() -> None:
    total = _realtime_stats()
    total.merge(Stats.from_json(_realtime_stats().to_json()))
    assert total.burst_readings == {0: 20_000, 1: 20_000}
    assert total.burst_s == {0: 2.0, 1: 2.0}
    assert total.window_s == 62.0


def test_a_replay_shows_no_burst_rows() -> None:
    stats = Stats(readings_sent=100, readings_acked=100, requests=1)
    stats.elapsed_s = stats.window_s = 2.0
    table = report.table(report.summary(stats, Verification(planned=3, checked=3)))
    assert "burst" not in table
    assert "sites to verify" in table


def test_progress_lines_count_sites_and_share() -> None:
    assert report.linking_line(4_210, 10_000) == "linking: 4,210 of 10,000 sites (42%)"
    verification = Verification(planned=10, checked=2, unverifiable=1, mismatch_count=1)
    assert report.verifying_line(verification) == "verifying: 3 of 10 sites (30%), 1 mismatch"
