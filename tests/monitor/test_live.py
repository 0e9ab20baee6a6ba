"""The monitor against a real daemon holding a small fleet: the keys end to end, the detail
screen, and the daemon stopping and starting again while the monitor runs.

Each test starts ``python -m daemon`` on a database of its own; waits are bounded by
``WAIT_S`` and nothing is asserted about how long anything took.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
from textual.pilot import Pilot
from textual.widgets import Static

from monitor.api.client import DaemonClient
from monitor.api.errors import BadAnswer, Unreachable
from monitor.api.wire import MeterRow, VehicleRow
from monitor.cli import settings_from, timeout_for
from monitor.ui.app import MonitorApp
from monitor.ui.fleet_screen import FleetScreen
from monitor.ui.settings import Settings
from monitor.ui.vehicle_screen import VehicleScreen
from monitor.ui.widgets.device_list import DeviceView
from monitor.ui.widgets.fleet_panel import FleetPanel
from monitor.ui.widgets.header import StatusHeader
from monitor.ui.widgets.hourly_chart import HourlyChart
from tests.conftest import Postgres
from tests.monitor.conftest import DaemonProcess, free_port, text_of, until
from tests.monitor.fleet_data import SITES, post_fleet
from tests.support import vehicle


def drive(
    daemon: DaemonProcess, scenario: Callable[[Pilot[None]], Awaitable[None]], page_size: int = 100
) -> None:
    settings = Settings(url=daemon.url, refresh_s=0.3, backoff_cap_s=1.0, page_size=page_size)

    async def run() -> None:
        async with DaemonClient(daemon.url, timeout_s=timeout_for(settings.refresh_s)) as client:
            app = MonitorApp(client, settings)
            async with app.run_test(size=(160, 48)) as pilot:
                await until(pilot, lambda: vehicles(pilot).shown_ids, "the first page")
                await scenario(pilot)

    asyncio.run(run())


def vehicles(pilot: Pilot[Any]) -> DeviceView[VehicleRow]:
    return pilot.app.screen.query_one("#vehicle-list", DeviceView)


def meters(pilot: Pilot[Any]) -> DeviceView[MeterRow]:
    return pilot.app.screen.query_one("#meter-list", DeviceView)


def test_rows_pages_sort_filter_and_alerts_against_a_real_daemon(ingestd: DaemonProcess) -> None:
    fleet = post_fleet(ingestd.url)

    async def scenario(pilot: Pilot[None]) -> None:
        view = vehicles(pilot)
        rows = view.query_one(".rows", Static)
        assert view.shown_ids == fleet.vehicles[:10]
        await until(pilot, lambda: "rows 1-10 of 24" in text_of(rows), "the rows label")
        await until(
            pilot,
            lambda: (
                (summary := pilot.app.screen.query_one(FleetPanel).summary) is not None
                and summary.vehicles.total == SITES
            ),
            "the fleet summary",
        )

        await pilot.press("n", "n")
        await until(pilot, lambda: view.shown_ids == fleet.vehicles[20:], "the last page")
        assert "rows 21-24 of 24" in text_of(rows)
        await pilot.press("p")
        await until(pilot, lambda: view.shown_ids == fleet.vehicles[10:20], "the middle page")

        by_soc = tuple(sorted(fleet.vehicles, key=lambda v: fleet.soc[v]))
        await pilot.press("s")
        await until(pilot, lambda: view.shown_ids == by_soc[:10], "sorted by charge")
        await pilot.press("o")
        await until(pilot, lambda: view.shown_ids == by_soc[::-1][:10], "the order flipped")

        await pilot.press("slash", *"ev-1", "enter")
        ev_1x = tuple(
            sorted((v for v in fleet.vehicles if "ev-1" in v), key=lambda v: fleet.soc[v])
        )
        await until(pilot, lambda: view.shown_ids == ev_1x[::-1], "the filter")

        await pilot.press("slash", "backspace", "escape", "a")
        await until(
            pilot, lambda: set(view.shown_ids) == fleet.alerting_vehicles, "alerting vehicles"
        )
        await pilot.press("m", "a")
        await until(
            pilot, lambda: set(meters(pilot).shown_ids) == fleet.alerting_meters, "alerting meters"
        )

    drive(ingestd, scenario, page_size=10)


def test_the_detail_shows_totals_and_the_hourly_chart(ingestd: DaemonProcess) -> None:
    fleet = post_fleet(ingestd.url)

    async def open_detail(pilot: Pilot[None], row: int) -> VehicleScreen:
        vehicles(pilot).table.move_cursor(row=row)
        await pilot.press("enter")
        await until(pilot, lambda: isinstance(pilot.app.screen, VehicleScreen), "the detail")
        screen = pilot.app.screen
        assert isinstance(screen, VehicleScreen)
        return screen

    async def scenario(pilot: Pilot[None]) -> None:
        screen = await open_detail(pilot, 0)
        assert screen.vehicle_id == fleet.vehicles[0]
        chart = screen.query_one(HourlyChart)
        await until(pilot, lambda: chart.hourly is not None, "the hourly view")
        assert chart.hourly is not None
        assert len(chart.hourly.hours) == 24
        assert sum(hour.ac_kwh for hour in chart.hourly.hours) > 0
        assert "AC from the meter" in text_of(chart)
        assert "█" in text_of(chart)
        day = screen.query_one("#day", Static)
        await until(pilot, lambda: "0.900" in text_of(day), "the 24-hour ratio")
        assert "mt-00" in text_of(day)

        await pilot.press("escape")
        await until(pilot, lambda: isinstance(pilot.app.screen, FleetScreen), "the fleet")
        screen = await open_detail(pilot, fleet.vehicles.index(fleet.unlinked))
        assert screen.vehicle_id == fleet.unlinked
        no_link = screen.query_one("#no-link", Static)
        await until(pilot, lambda: "Create a link" in text_of(no_link), "the no-link sentence")
        assert not screen.query_one(HourlyChart).display
        assert "SoC" in text_of(screen.query_one("#latest", Static))

    drive(ingestd, scenario)


def test_a_daemon_that_stops_and_starts_again(ingestd: DaemonProcess) -> None:
    fleet = post_fleet(ingestd.url)

    async def scenario(pilot: Pilot[None]) -> None:
        header = pilot.app.screen.query_one(StatusHeader)
        view = vehicles(pilot)
        await until(pilot, lambda: "● ready" in text_of(header), "ready")
        await asyncio.to_thread(ingestd.stop)
        await until(pilot, lambda: isinstance(header.link.problem, Unreachable), "unreachable")
        assert "✖ unreachable" in text_of(header)
        assert view.shown_ids == fleet.vehicles
        await pilot.pause(1.0)
        assert view.shown_ids == fleet.vehicles, "the last data stays while the daemon is away"

        await asyncio.to_thread(ingestd.start)
        await asyncio.to_thread(post_new_vehicle, ingestd.url)
        await until(pilot, lambda: header.link.problem is None, "the recovery")
        await until(pilot, lambda: "ev-99" in view.shown_ids, "data from after the restart")
        assert "● ready" in text_of(header)

    drive(ingestd, scenario)


def post_new_vehicle(url: str) -> None:
    response = httpx.post(f"{url}/v1/ingest", json=vehicle("ev-99"), timeout=60)
    assert response.status_code == 201, response.text


def test_a_daemon_with_tokens_answers_the_monitor_s_token_only(
    postgres: Postgres, tmp_path: Path
) -> None:
    read, ingest = "read-token-0123456789", "ingest-token-0123456789"
    daemon = DaemonProcess(
        postgres.url(postgres.create_database()),
        free_port(),
        tmp_path / "ingestd.log",
        env={"INGEST_TOKENS": f"read:{read},ingest:{ingest}"},
    )
    settings, token = settings_from(["--url", daemon.url, "--token", read], {})

    async def ask(token: str | None) -> int:
        async with DaemonClient(settings.url, timeout_s=5, token=token) as client:
            return (await client.summary()).vehicles.total

    daemon.start()
    try:
        assert asyncio.run(ask(token)) == 0
        for wrong in (None, ingest):
            with pytest.raises(BadAnswer, match=r"answered 40[13]"):
                asyncio.run(ask(wrong))
    finally:
        daemon.stop()
