"""The keys and states of the monitor, driven with Pilot over fixed data: paging, sorting,
filtering, alerts only, the detail and help screens, and a daemon that fails and comes back.
The same keys are driven against a real daemon in ``test_live``."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from functools import partial
from typing import Any

from textual.pilot import Pilot
from textual.widgets import Static

from monitor.api.errors import BadAnswer, Unreachable
from monitor.api.wire import MeterRow, VehicleRow
from monitor.ui.app import MonitorApp
from monitor.ui.fleet_screen import FleetScreen
from monitor.ui.help_screen import HelpScreen
from monitor.ui.settings import Settings
from monitor.ui.vehicle_screen import VehicleScreen
from monitor.ui.widgets.device_list import DeviceView
from monitor.ui.widgets.header import StatusHeader
from monitor.ui.widgets.hourly_chart import HourlyChart
from tests.monitor.conftest import text_of, until
from tests.monitor.fixed import FixedDaemon, daemon_down, fixed_settings


def drive(
    scenario: Callable[[Pilot[None], FixedDaemon], Awaitable[None]],
    settings: Settings | None = None,
    size: tuple[int, int] = (120, 40),
) -> None:
    fixed = FixedDaemon()
    app = MonitorApp(fixed, settings or fixed_settings())

    async def run() -> None:
        async with app.run_test(size=size) as pilot:
            await until(pilot, lambda: vehicles(pilot).shown_ids, "the first page")
            await scenario(pilot, fixed)

    asyncio.run(run())


def vehicles(pilot: Pilot[Any]) -> DeviceView[VehicleRow]:
    return pilot.app.screen.query_one("#vehicle-list", DeviceView)


def meters(pilot: Pilot[Any]) -> DeviceView[MeterRow]:
    return pilot.app.screen.query_one("#meter-list", DeviceView)


def rows_label(view: DeviceView[Any]) -> str:
    return text_of(view.query_one(".rows", Static)).strip()


def test_pages_go_forward_and_back_a_hundred_rows_at_a_time() -> None:
    async def scenario(pilot: Pilot[None], _: FixedDaemon) -> None:
        view = vehicles(pilot)
        assert rows_label(view) == "rows 1-100 of 250"
        await pilot.press("n")
        await until(pilot, lambda: view.shown_ids[0] == "vehicle-00101", "page 2")
        assert rows_label(view) == "rows 101-200 of 250"
        await pilot.press("n", "n")
        await until(pilot, lambda: view.shown_ids[0] == "vehicle-00201", "page 3")
        assert rows_label(view) == "rows 201-250 of 250"
        assert len(view.shown_ids) == 50
        await pilot.press("p")
        await until(pilot, lambda: view.shown_ids[0] == "vehicle-00101", "page 2 again")

    drive(scenario)


def test_a_refresh_keeps_the_cursor_on_its_device() -> None:
    async def scenario(pilot: Pilot[None], fixed: FixedDaemon) -> None:
        view = vehicles(pilot)
        await pilot.press(*["down"] * 30)
        assert view.table.cursor_row == 30
        fixed.vehicles_list.pop(0)
        calls = fixed.calls
        await pilot.press("r")
        await until(pilot, lambda: fixed.calls > calls, "a refresh")
        await until(pilot, lambda: view.shown_ids[0] == "vehicle-00002", "the changed page")
        assert view.shown_ids[view.table.cursor_row] == "vehicle-00031"

    drive(scenario)


def test_s_cycles_the_sort_and_o_flips_the_order() -> None:
    async def scenario(pilot: Pilot[None], fixed: FixedDaemon) -> None:
        view = vehicles(pilot)
        by_soc = sorted(fixed.vehicles_list, key=lambda row: (row.soc, row.vehicle_id))
        await pilot.press("s")
        expected = tuple(row.vehicle_id for row in by_soc[:100])
        await until(pilot, lambda: view.shown_ids == expected, "sorted by state of charge")
        assert view.pager.query.sort == "soc"
        await pilot.press("o")
        expected = tuple(row.vehicle_id for row in reversed(by_soc))[:100]
        await until(pilot, lambda: view.shown_ids == expected, "the order flipped")
        for sort in ("batteryTemp", "efficiency", "lastSeen", "id"):
            await pilot.press("s")
            await until(pilot, partial(sorted_by, view, sort), f"sorted by {sort}")
            await until(pilot, lambda: len(marked(view)) == 1, "the sorted column marked")
            # The mark is seen whole: no heading is wider than its column.
            for column in view.table.columns.values():
                assert len(str(column.label)) <= column.width, (sort, str(column.label))

    drive(scenario)


def sorted_by(view: DeviceView[Any], sort: str) -> bool:
    return bool(view.pager.query.sort == sort)


def marked(view: DeviceView[Any]) -> list[str]:
    """The headings that carry the sort arrow."""
    headings = [str(column.label) for column in view.table.columns.values()]
    return [heading for heading in headings if heading.endswith(("▲", "▼"))]


def test_the_filter_asks_for_ids_containing_what_is_typed() -> None:
    """``/`` selects the filter's text, so typing replaces it."""

    async def scenario(pilot: Pilot[None], _: FixedDaemon) -> None:
        view = vehicles(pilot)
        await pilot.press("slash", *"00012", "enter")
        await until(pilot, lambda: view.shown_ids == ("vehicle-00012",), "the filtered row")
        assert rows_label(view) == "rows 1-1 of 1"
        assert pilot.app.focused is view.table
        await pilot.press("slash", *"000", "escape")
        await until(pilot, lambda: len(view.shown_ids) == 99, "ids containing 000")
        assert pilot.app.focused is view.table

    drive(scenario)


def test_a_shows_alerting_devices_only_and_back() -> None:
    async def scenario(pilot: Pilot[None], fixed: FixedDaemon) -> None:
        view = vehicles(pilot)
        alerting = tuple(row.vehicle_id for row in fixed.vehicles_list if row.alerts)[:100]
        await pilot.press("a")
        await until(pilot, lambda: view.shown_ids == alerting, "alerting vehicles only")
        await pilot.press("a")
        await until(pilot, lambda: len(view.shown_ids) == 100, "every vehicle again")

    drive(scenario)


def test_m_and_v_switch_between_meters_and_vehicles() -> None:
    async def scenario(pilot: Pilot[None], _: FixedDaemon) -> None:
        await pilot.press("m")
        await until(pilot, lambda: meters(pilot).shown_ids[:1] == ("meter-00001",), "meters")
        await pilot.press("a")
        await until(
            pilot,
            lambda: (
                all(row.startswith("meter-") for row in meters(pilot).shown_ids)
                and len(meters(pilot).shown_ids) < 100
            ),
            "alerting meters",
        )
        assert vehicles(pilot).pager.query.alerts_only is False
        await pilot.press("v")
        await until(pilot, lambda: pilot.app.focused is vehicles(pilot).table, "vehicles")

    drive(scenario)


def test_enter_opens_the_detail_and_escape_comes_back() -> None:
    async def scenario(pilot: Pilot[None], fixed: FixedDaemon) -> None:
        await pilot.press("down", "enter")
        await until(pilot, lambda: isinstance(pilot.app.screen, VehicleScreen), "the detail")
        screen = pilot.app.screen
        assert isinstance(screen, VehicleScreen)
        assert screen.vehicle_id == "vehicle-00002"
        chart = screen.query_one(HourlyChart)
        await until(pilot, lambda: chart.hourly is not None, "the hourly chart")
        assert chart.display
        assert "0.790" in text_of(screen.query_one("#day", Static))
        await pilot.press("escape")
        await until(pilot, lambda: isinstance(pilot.app.screen, FleetScreen), "the fleet")

    drive(scenario)


def test_a_vehicle_without_link_says_so_in_a_sentence() -> None:
    async def scenario(pilot: Pilot[None], _: FixedDaemon) -> None:
        await pilot.press(*["down"] * 6, "enter")
        await until(pilot, lambda: isinstance(pilot.app.screen, VehicleScreen), "the detail")
        no_link = pilot.app.screen.query_one("#no-link", Static)
        await until(
            pilot, lambda: "Create a link via PUT /v1/links" in text_of(no_link), "the sentence"
        )
        assert not pilot.app.screen.query_one(HourlyChart).display

    drive(scenario)


def test_question_mark_opens_the_help_and_escape_closes_it() -> None:
    async def scenario(pilot: Pilot[None], _: FixedDaemon) -> None:
        await pilot.press("question_mark")
        await until(pilot, lambda: isinstance(pilot.app.screen, HelpScreen), "the help")
        await pilot.press("escape")
        await until(pilot, lambda: isinstance(pilot.app.screen, FleetScreen), "the fleet")

    drive(scenario)


def test_q_quits() -> None:
    async def scenario(pilot: Pilot[None], _: FixedDaemon) -> None:
        await pilot.press("q")
        await until(pilot, lambda: not pilot.app.is_running, "the app to end")

    drive(scenario)


def test_a_failing_daemon_is_shown_the_data_stays_and_the_monitor_recovers_by_itself() -> None:
    async def scenario(pilot: Pilot[None], fixed: FixedDaemon) -> None:
        header = pilot.app.screen.query_one(StatusHeader)
        shown = vehicles(pilot).shown_ids
        fixed.down = daemon_down()
        await until(pilot, lambda: isinstance(header.link.problem, Unreachable), "unreachable")
        for said in ("✖ unreachable", "retry in", "cannot connect (connection refused)"):
            assert said in text_of(header)
        assert vehicles(pilot).shown_ids == shown
        fixed.down = BadAnswer("/v1/fleet/summary answered 500: boom")
        await until(pilot, lambda: isinstance(header.link.problem, BadAnswer), "the error")
        assert "/v1/fleet/summary answered 500: boom" in text_of(header)
        fixed.down = None
        await until(pilot, lambda: header.link.problem is None, "the recovery")
        assert header.link.readiness is not None
        assert header.link.readiness.ready

    drive(scenario, fixed_settings(refresh_s=0.05, backoff_cap_s=0.2))
