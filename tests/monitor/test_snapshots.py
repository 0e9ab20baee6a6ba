"""How the monitor looks, at 80x24 and 160x48, over fixed data and a fixed clock.

A failing snapshot writes ``snapshot_report.html`` showing old and new side by side; when the
change is wanted, accept it with ``pytest tests/monitor --snapshot-update`` and review the SVGs
like code. Nothing here polls by itself (the refresh is an hour): each test decides when data
arrives, so every run draws the same screen.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from textual.pilot import Pilot

from monitor.ui.app import MonitorApp
from monitor.ui.vehicle_screen import VehicleScreen
from monitor.ui.widgets.device_list import DeviceView
from monitor.ui.widgets.hourly_chart import HourlyChart
from tests.monitor.conftest import until
from tests.monitor.fixed import RATES, FixedDaemon, daemon_down, fixed_settings

SnapCompare = Callable[..., bool]
SIZES = [pytest.param((80, 24), id="80x24"), pytest.param((160, 48), id="160x48")]


async def _with_history(pilot: Pilot[Any], fixed: FixedDaemon) -> None:
    """The first page, then one refresh per rate of ``RATES`` so the sparkline has a shape."""
    await until(pilot, lambda: pilot.app.screen.query("#vehicle-list"), "the fleet screen")
    view = pilot.app.screen.query_one("#vehicle-list", DeviceView)
    await until(pilot, lambda: view.shown_ids, "the first page")
    while fixed.calls < len(RATES):
        await _refresh(pilot, fixed, view)
    await until(pilot, lambda: view.shown_ids, "the page after the last refresh")


async def _refresh(pilot: Pilot[Any], fixed: FixedDaemon, view: DeviceView[Any]) -> None:
    calls = fixed.calls
    await pilot.press("r")
    await until(pilot, lambda: fixed.calls > calls and view.shown_ids, "a refresh")


def _snap(
    snap_compare: SnapCompare,
    size: tuple[int, int],
    then: Callable[[Pilot[Any], FixedDaemon], Awaitable[None]] | None = None,
) -> bool:
    fixed = FixedDaemon()

    async def run_before(pilot: Pilot[Any]) -> None:
        await _with_history(pilot, fixed)
        if then is not None:
            await then(pilot, fixed)

    return snap_compare(
        MonitorApp(fixed, fixed_settings()), terminal_size=size, run_before=run_before
    )


async def _open_detail(pilot: Pilot[Any], fixed: FixedDaemon, downs: int) -> None:
    await pilot.press(*["down"] * downs, "enter")
    await until(pilot, lambda: isinstance(pilot.app.screen, VehicleScreen), "the detail")
    screen = pilot.app.screen
    await until(
        pilot,
        lambda: (
            screen.query_one(HourlyChart).hourly is not None or screen.query_one("#no-link").display
        ),
        "the detail's data",
    )


@pytest.mark.parametrize("size", SIZES)
def test_fleet(snap_compare: SnapCompare, size: tuple[int, int]) -> None:
    assert _snap(snap_compare, size)


def test_meters_alerts_only(snap_compare: SnapCompare) -> None:
    """Voltage bands: green in range, yellow out of range, red at 0 V (an outage)."""

    async def meters(pilot: Pilot[Any], _: FixedDaemon) -> None:
        await pilot.press("m", "a")
        view = pilot.app.screen.query_one("#meter-list", DeviceView)
        await until(pilot, lambda: view.pager.query.alerts_only and view.page, "alerting meters")
        await until(pilot, lambda: view.page and view.page.total < 250, "the filtered page")

    assert _snap(snap_compare, (80, 24), meters)


@pytest.mark.parametrize("size", SIZES)
def test_vehicle_detail(snap_compare: SnapCompare, size: tuple[int, int]) -> None:
    async def detail(pilot: Pilot[Any], fixed: FixedDaemon) -> None:
        await _open_detail(pilot, fixed, downs=1)

    assert _snap(snap_compare, size, detail)


def test_vehicle_without_link(snap_compare: SnapCompare) -> None:
    async def detail(pilot: Pilot[Any], fixed: FixedDaemon) -> None:
        await _open_detail(pilot, fixed, downs=6)

    assert _snap(snap_compare, (80, 24), detail)


def test_help(snap_compare: SnapCompare) -> None:
    async def help_(pilot: Pilot[Any], _: FixedDaemon) -> None:
        await pilot.press("question_mark")

    assert _snap(snap_compare, (80, 24), help_)


def test_daemon_down_keeps_the_last_data(snap_compare: SnapCompare) -> None:
    async def down(pilot: Pilot[Any], fixed: FixedDaemon) -> None:
        fixed.down = daemon_down()
        await pilot.press("r")
        await until(pilot, lambda: pilot.app.screen.has_class("-stale"), "the failed poll")

    assert _snap(snap_compare, (80, 24), down)
