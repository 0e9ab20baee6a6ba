"""One vehicle: its latest state, its linked meter's, its 24-hour totals and an hour-by-hour
chart of AC against DC. Polled like the main screen, by its own worker, which ends with the
screen. A vehicle without a meter link (404) is a state to show, not an error."""

from __future__ import annotations

from collections.abc import Awaitable
from typing import ClassVar, TypeVar

from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal
from textual.widgets import Footer, Static

from monitor.api.client import DaemonApi
from monitor.api.errors import NotFound
from monitor.api.wire import MeterStatus, Performance, VehicleStatus
from monitor.ui.logic import bands, figures
from monitor.ui.logic.link import Link
from monitor.ui.messages import VehicleDetailUpdated
from monitor.ui.polled_screen import PolledScreen
from monitor.ui.settings import Settings
from monitor.ui.widgets.hourly_chart import HourlyChart
from monitor.ui.widgets.style import banded, label

_T = TypeVar("_T")


async def _unless_missing(answer: Awaitable[_T]) -> _T | None:
    try:
        return await answer
    except NotFound:
        return None


class VehicleScreen(PolledScreen):
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "app.pop_screen", "Back"),
        Binding("r", "refresh", "Refresh"),
    ]

    def __init__(self, api: DaemonApi, settings: Settings, vehicle_id: str, link: Link) -> None:
        super().__init__(api, settings, link)
        self.vehicle_id = vehicle_id
        self._latest = Static(label("…"), id="latest")
        self._day = Static(label("…"), id="day")
        self._no_link = Static(id="no-link")
        self._chart = HourlyChart()

    def compose(self) -> ComposeResult:
        yield self.header
        yield Static(Text.assemble(label("vehicle "), (self.vehicle_id, "bold")), id="title")
        with Horizontal(id="detail-panels"):
            yield self._latest
            yield self._day
        yield self._no_link
        yield self._chart
        yield Footer(compact=True, show_command_palette=False)

    def on_mount(self) -> None:
        self._latest.border_title = "latest"
        self._day.border_title = "last 24 h"

    async def cycle(self) -> None:
        api, vehicle_id = self.api, self.vehicle_id
        status = await _unless_missing(api.vehicle_status(vehicle_id))
        try:
            performance = await api.performance(vehicle_id)
            hourly = await api.hourly(vehicle_id)
        except NotFound as missing:
            self.post_message(VehicleDetailUpdated(status, None, None, None, str(missing)))
        else:
            meter = await _unless_missing(api.meter_status(performance.meter_id))
            self.post_message(VehicleDetailUpdated(status, performance, hourly, meter, None))

    def on_vehicle_detail_updated(self, message: VehicleDetailUpdated) -> None:
        self._latest.update(self._latest_state(message.status, message.meter))
        self._day.update(_day(message.performance, message.no_link))
        self._no_link.update(Text(message.no_link or "", style="yellow"))
        self._no_link.display = message.no_link is not None
        self._chart.hourly = message.hourly
        self._chart.display = message.hourly is not None

    def _latest_state(self, status: VehicleStatus | None, meter: MeterStatus | None) -> Table:
        now = self.settings.clock.now()
        grid = _grid()
        if status is None:
            grid.add_row(label("vehicle"), "no readings yet")
        else:
            grid.add_row(label("SoC"), f"{figures.number(status.soc)} %")
            grid.add_row(
                label("battery"),
                banded(
                    f"{figures.number(status.battery_temp)} °C",
                    bands.battery_temp(status.battery_temp),
                ),
            )
            grid.add_row(label("DC"), f"{figures.number(status.kwh_delivered_dc, 3)} kWh")
            grid.add_row(label("seen"), f"{figures.since(status.ts, now)} ago")
        if meter is not None:
            grid.add_row(
                label("meter"),
                Text.assemble(
                    banded(f"{figures.number(meter.voltage)} V", bands.voltage(meter.voltage)),
                    f"  {figures.number(meter.kwh_consumed_ac, 3)} kWh  ",
                    label(f"{figures.since(meter.ts, now)} ago"),
                ),
            )
        return grid


def _grid() -> Table:
    grid = Table.grid(padding=(0, 1))
    grid.add_column(no_wrap=True, min_width=11)
    grid.add_column(no_wrap=True, overflow="ellipsis")
    return grid


def _day(performance: Performance | None, no_link: str | None) -> Table | Text:
    if performance is None:
        return label("no meter link" if no_link else "…")
    grid = _grid()
    grid.add_row(label("meter"), performance.meter_id)
    grid.add_row(
        label("AC"),
        Text.assemble(
            f"{figures.number(performance.ac_kwh, 2)} kWh  ",
            label(f"{performance.meter_readings:,} readings"),
        ),
    )
    grid.add_row(
        label("DC"),
        Text.assemble(
            f"{figures.number(performance.dc_kwh, 2)} kWh  ",
            label(f"{performance.vehicle_readings:,} readings"),
        ),
    )
    grid.add_row(
        label("efficiency"),
        banded(figures.ratio(performance.ratio), bands.efficiency(performance.ratio)),
    )
    temp = performance.avg_battery_temp
    grid.add_row(
        label("avg battery"),
        banded(f"{figures.number(temp)} °C", bands.battery_temp(temp)),
    )
    return grid
