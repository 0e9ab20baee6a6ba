"""The load generator's moving parts on their own: the token on the wire and nowhere else, the
acknowledgement log on disk line by line, a stop's first reason, progress every two seconds
(on trio's autojump clock), what a worker process is told, and a burst's timing against a real
daemon."""

from __future__ import annotations

import io
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest
import trio
import trio.testing

from daemon.process.supervisor import Running
from loadgen.engine.client import Engine, transport_cause
from loadgen.errors import BadAnswer, Interrupted, Stopped, Unreachable
from loadgen.results import progress
from loadgen.results.acklog import AckLog
from loadgen.results.stats import Stats
from loadgen.results.tally import Tally
from loadgen.results.verify import Verification
from loadgen.run import workers
from loadgen.run.runner import Drive
from loadgen.run.stopping import Stop
from loadgen.simulation.fleet import build_sites
from loadgen.simulation.ledger import Ledger
from loadgen.simulation.plan import Faults, Pacing, first_minute, plan

_TOKEN = "a-token-of-sixteen-or-more"  # noqa: S105 (a test's)


async def test_the_token_goes_in_the_authorization_header_and_nowhere_else() -> None:
    engine = Engine("http://127.0.0.1:9", token=_TOKEN, give_up_s=60.0)
    async with engine.client() as http:
        assert http.headers["Authorization"] == f"Bearer {_TOKEN}"
    assert _TOKEN not in repr(engine)
    async with Engine("http://127.0.0.1:9", token=None, give_up_s=60.0).client() as http:
        assert "Authorization" not in http.headers


def test_a_worker_gets_the_token_in_its_environment_not_its_command_line() -> None:
    argv = ["replay", "--token", _TOKEN, "--sites", "5", f"--token={_TOKEN}", "--verify"]
    assert workers._without_token(argv) == ["replay", "--sites", "5", "--verify"]


def test_a_refused_connection_is_named_in_a_few_words() -> None:
    refused = ConnectionRefusedError(111, "Error connecting to ('127.0.0.1', 9): refused")
    group = ExceptionGroup("all attempts to connect failed", [refused])
    error = httpx.ConnectError("all attempts to connect to 127.0.0.1:9 failed")
    error.__cause__ = OSError("all attempts to connect to 127.0.0.1:9 failed")
    error.__cause__.__cause__ = group
    assert transport_cause(error) == "connection refused"
    assert transport_cause(httpx.ReadTimeout("timed out")) == "no answer in time"
    assert transport_cause(httpx.RemoteProtocolError("Server disconnected")) == (
        "server disconnected"
    )


def test_every_acknowledgement_is_on_disk_as_whole_lines_before_the_next(tmp_path: Path) -> None:
    path = tmp_path / "acks.tsv"
    with AckLog(path) as log:
        log.write([("meter-1", "2026-11-20T12:00:00Z"), ("vehicle-1", "2026-11-20T12:00:00Z")])
        assert (
            path.read_text() == "meter-1\t2026-11-20T12:00:00Z\nvehicle-1\t2026-11-20T12:00:00Z\n"
        )
        log.write([("meter-2", "2026-11-20T12:01:00Z")])
        assert path.read_text().splitlines()[-1] == "meter-2\t2026-11-20T12:01:00Z"


async def test_a_stop_keeps_its_first_reason_and_ends_what_it_guards() -> None:
    stop = Stop()

    async def fails(reason: Stopped, after_s: float) -> None:
        await trio.sleep(after_s)
        raise reason

    with stop.guard():
        async with trio.open_nursery() as nursery:
            nursery.start_soon(fails, Unreachable("the engine is gone"), 0.0)
            nursery.start_soon(fails, BadAnswer("never raised: cancelled first"), 5.0)
            nursery.start_soon(trio.sleep_forever)
    assert str(stop.reason) == "the engine is gone"
    stop.request(Interrupted(2))
    assert str(stop.reason) == "the engine is gone"
    with stop.guard():
        await trio.sleep_forever()  # cancelled at once: the run has stopped
    assert stop.reason is not None
    assert stop.reason.status == 1
    assert Interrupted(15).status == 143


async def test_other_errors_are_not_swallowed_by_a_guard() -> None:
    stop = Stop()
    with pytest.raises(ValueError, match="a bug"), stop.guard():
        raise ValueError("a bug")
    assert stop.reason is None


async def test_progress_is_a_line_every_two_seconds(autojump_clock: trio.testing.MockClock) -> None:
    tally = Tally(stats=Stats())
    out = io.StringIO()
    with trio.move_on_after(5.0):
        async with trio.open_nursery() as nursery:
            nursery.start_soon(lambda: progress.every(progress.live_line(lambda: tally), out=out))
            assert tally.stats is not None
            tally.stats.readings_sent = tally.stats.readings_acked = 4_000
            await trio.sleep(3.0)
            tally.verification = Verification(planned=10, checked=5)
    lines = out.getvalue().splitlines()
    assert len(lines) == 2
    assert "acked 4,000 (2,000/s)" in lines[0]
    assert lines[1] == "verifying: 5 of 10 sites (50%), 0 mismatches"


async def test_a_burst_is_timed_from_its_boundary_to_its_last_answer(daemon: Running) -> None:
    t0 = first_minute(datetime.now(UTC), 1)
    ledger = Ledger(build_sites(3, t0, range(20)), t0)
    pacing = Pacing("realtime", first_minute_s=0.0)
    requests = plan(ledger, 1, batch=10, pacing=pacing, faults=Faults(), seed=1)
    stats = Stats()
    engine = Engine(daemon.url, token=None, give_up_s=60.0)
    await Drive(engine, ledger, stats, None).run(requests, concurrency=2)
    assert stats.readings_acked == 40
    assert stats.burst_readings == {0: 40}
    assert 0 < stats.burst_s[0] <= stats.window_s <= stats.elapsed_s
    assert stats.burst_rate() == 40 / stats.burst_s[0]
