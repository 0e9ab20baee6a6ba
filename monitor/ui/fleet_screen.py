"""The main screen: the daemon's state, the engine and fleet panels, and the two fleet lists.

Each poll cycle asks for the summary and (while this screen is on top) the page of the list in
view; each answer is posted as a message and drawn by the handlers below.
"""

from __future__ import annotations

from typing import ClassVar

from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal
from textual.widgets import Footer, TabbedContent, TabPane

from monitor.api.client import DaemonApi
from monitor.api.wire import MeterRow, VehicleRow
from monitor.ui.messages import MetersUpdated, SummaryUpdated, VehiclesUpdated
from monitor.ui.polled_screen import PolledScreen
from monitor.ui.settings import Settings
from monitor.ui.vehicle_screen import VehicleScreen
from monitor.ui.widgets.columns import METER_COLUMNS, VEHICLE_COLUMNS
from monitor.ui.widgets.device_list import DeviceView
from monitor.ui.widgets.engine_panel import EnginePanel
from monitor.ui.widgets.fleet_panel import FleetPanel


class FleetScreen(PolledScreen):
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("slash", "filter", "Filter"),
        Binding("s", "sort", "Sort"),
        Binding("o", "order", "Order"),
        Binding("a", "alerts", "Alerts"),
        Binding("n", "next_page", "Next"),
        Binding("p", "previous_page", "Prev"),
        Binding("r", "refresh", "Refresh"),
        Binding("v", "show('vehicles')", "Vehicles", show=False),
        Binding("m", "show('meters')", "Meters", show=False),
        Binding("escape", "leave_filter", show=False),
    ]

    def __init__(self, api: DaemonApi, settings: Settings) -> None:
        super().__init__(api, settings)
        self._engine = EnginePanel(settings.history_points)
        self._fleet = FleetPanel()
        self._vehicles = DeviceView[VehicleRow](
            VEHICLE_COLUMNS,
            lambda row: row.vehicle_id,
            page_size=settings.page_size,
            now=settings.clock.now,
            id="vehicle-list",
        )
        self._meters = DeviceView[MeterRow](
            METER_COLUMNS,
            lambda row: row.meter_id,
            page_size=settings.page_size,
            now=settings.clock.now,
            id="meter-list",
        )
        self._showing_vehicles = True

    def compose(self) -> ComposeResult:
        yield self.header
        with Horizontal(id="panels"):
            yield self._engine
            yield self._fleet
        with TabbedContent(initial="vehicles"):
            with TabPane("Vehicles", id="vehicles"):
                yield self._vehicles
            with TabPane("Meters", id="meters"):
                yield self._meters
        yield Footer(compact=True, show_command_palette=False)

    @property
    def _view(self) -> DeviceView[VehicleRow] | DeviceView[MeterRow]:
        return self._vehicles if self._showing_vehicles else self._meters

    async def cycle(self) -> None:
        api = self.api
        self.post_message(SummaryUpdated(await api.summary()))
        if self.is_current:
            if self._showing_vehicles:
                query = self._vehicles.pager.query
                self.post_message(VehiclesUpdated(query, await api.vehicles(query)))
            else:
                query = self._meters.pager.query
                self.post_message(MetersUpdated(query, await api.meters(query)))

    def on_summary_updated(self, message: SummaryUpdated) -> None:
        self._engine.summary = message.summary
        self._fleet.summary = message.summary

    def on_vehicles_updated(self, message: VehiclesUpdated) -> None:
        self._vehicles.show(message.query, message.page)

    def on_meters_updated(self, message: MetersUpdated) -> None:
        self._meters.show(message.query, message.page)

    def on_device_view_query_changed(self, message: DeviceView.QueryChanged) -> None:
        self.poll()

    def on_device_view_device_chosen(self, message: DeviceView.DeviceChosen) -> None:
        if message.control is self._vehicles:
            self.app.push_screen(
                VehicleScreen(self.api, self.settings, message.device_id, self.header.link)
            )

    def on_tabbed_content_tab_activated(self, event: TabbedContent.TabActivated) -> None:
        self._showing_vehicles = event.pane.id == "vehicles"
        self._view.table.focus()
        self.poll()

    def action_filter(self) -> None:
        self._view.focus_filter()

    def action_leave_filter(self) -> None:
        self._view.table.focus()

    def action_sort(self) -> None:
        self._view.cycle_sort()

    def action_order(self) -> None:
        self._view.flip_order()

    def action_alerts(self) -> None:
        self._view.toggle_alerts()

    def action_next_page(self) -> None:
        self._view.next_page()

    def action_previous_page(self) -> None:
        self._view.previous_page()

    def action_show(self, tab: str) -> None:
        self.query_one(TabbedContent).active = tab
