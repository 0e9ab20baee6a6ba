"""Hour by hour, the AC energy the linked meter drew against the DC energy the vehicle took.

The shorter bar is drawn in front: normally DC, with the AC above it being what was lost
between grid and battery; a DC bar standing above its AC (impossible) shows at a glance.
"""

from __future__ import annotations

from rich.text import Text
from textual.reactive import reactive
from textual.widget import Widget

from monitor.api.wire import Hourly
from monitor.ui.widgets.bar_chart import draw

AC_STYLE = "dodger_blue1"
DC_STYLE = "green"


class HourlyChart(Widget):
    hourly: reactive[Hourly | None] = reactive(None)

    def render(self) -> Text:
        legend = Text.assemble(
            ("█", AC_STYLE),
            " AC from the meter  ",
            ("█", DC_STYLE),
            " DC into the vehicle  ",
            ("kWh per hour, UTC", "dim"),
        )
        if self.hourly is None or not self.hourly.hours:
            return legend
        hours = self.hourly.hours
        chart = draw(
            [hour.ac_kwh for hour in hours],
            [hour.dc_kwh for hour in hours],
            [hour.start.strftime("%H") for hour in hours],
            width=self.size.width,
            height=self.size.height - 1,
            styles=(AC_STYLE, DC_STYLE),
        )
        return Text("\n").join([legend, chart])
