"""The fleet panel: how many devices report, how many are stale or alerting, and the fleet's
24-hour efficiency, all from one summary."""

from __future__ import annotations

from rich.table import Table
from rich.text import Text
from textual.reactive import reactive
from textual.widgets import Static

from monitor.api.wire import FleetSummary
from monitor.ui.logic import bands, figures
from monitor.ui.logic.bands import Band
from monitor.ui.widgets.style import banded, label


class FleetPanel(Static):
    summary: reactive[FleetSummary | None] = reactive(None)

    def __init__(self) -> None:
        super().__init__()
        self.border_title = "fleet"

    def watch_summary(self, summary: FleetSummary | None) -> None:
        if summary is None:
            return
        counts = Table.grid(padding=(0, 1))
        counts.add_column()
        for _ in range(5):
            counts.add_column(justify="right")
        counts.add_row(
            "", label("total"), label("report"), label("stale"), label("charge"), label("alerts")
        )
        vehicles, meters = summary.vehicles, summary.meters
        counts.add_row(
            label("vehicles"),
            figures.count(vehicles.total),
            figures.count(vehicles.reporting),
            _warn_if_any(vehicles.stale),
            figures.count(vehicles.charging),
            _warn_if_any(vehicles.alerts),
        )
        counts.add_row(
            label("meters"),
            figures.count(meters.total),
            figures.count(meters.reporting),
            _warn_if_any(meters.stale),
            figures.MISSING,
            _warn_if_any(meters.alerts),
        )
        efficiency = summary.efficiency
        counts.add_row(label("links"), figures.count(summary.links))
        ratio = Text.assemble(
            label("24 h efficiency "),
            banded(figures.ratio(efficiency.ratio), bands.efficiency(efficiency.ratio)),
        )
        energy = Text.assemble(
            label("AC "),
            figures.number(efficiency.ac_kwh, 0),
            label(" kWh  DC "),
            figures.number(efficiency.dc_kwh, 0),
            label(" kWh"),
        )
        grid = Table.grid()
        grid.add_column(no_wrap=True, overflow="ellipsis")
        grid.add_row(counts)
        grid.add_row(ratio)
        grid.add_row(energy)
        self.update(grid)


def _warn_if_any(value: int) -> Text:
    return banded(figures.count(value), Band.WARN if value else Band.NONE)
