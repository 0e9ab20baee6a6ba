"""The restart policy, without processes: backoff that doubles with recent deaths, and a limit
past which the supervisor gives up."""

from __future__ import annotations

from daemon.restarts import Policy, Restarts

POLICY = Policy(limit=3, window_s=60.0, first_backoff_s=0.1, max_backoff_s=0.3)


def test_backoff_doubles_with_each_recent_death_up_to_its_cap() -> None:
    restarts = Restarts(POLICY)
    assert [restarts.after_death(t) for t in (0.0, 1.0, 2.0)] == [0.1, 0.2, 0.3]


def test_a_death_past_the_limit_within_the_window_gives_up() -> None:
    restarts = Restarts(POLICY)
    for moment in (0.0, 1.0, 2.0):
        assert restarts.after_death(moment) is not None
    assert restarts.after_death(59.0) is None
    assert restarts.summary() == "4 deaths within 60 s"


def test_deaths_older_than_the_window_are_forgotten() -> None:
    restarts = Restarts(POLICY)
    for moment in (0.0, 1.0, 2.0):
        restarts.after_death(moment)
    assert restarts.after_death(62.5) == 0.1
