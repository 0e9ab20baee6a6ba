"""The keys, and what the colours mean: everything the footer has no room for at 80 columns."""

from __future__ import annotations

from typing import ClassVar

from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Static

from monitor.ui.logic.bands import (
    BATTERY_HOT_C,
    EFFICIENCY_HIGH,
    EFFICIENCY_LOW,
    VOLTAGE_HIGH,
    VOLTAGE_LOW,
    Band,
)
from monitor.ui.widgets.style import banded

_KEYS = (
    ("q", "quit"),
    ("?", "this help; escape closes it"),
    ("r", "refresh now; retries at once while the daemon is down"),
    ("v m", "vehicles or meters (or click the tabs)"),
    ("/", "filter by device id; enter or escape goes back to the table"),
    ("s", "sort by the next column, marked ▲ (or click its header)"),
    ("o", "flip the order"),
    ("a", "alerts only, or every device"),
    ("n p", "next or previous page of 100 rows"),
    ("enter", "a vehicle's detail; escape goes back"),
)


def _help() -> Table:
    grid = Table.grid(padding=(0, 2))
    grid.add_column(style="bold", no_wrap=True)
    grid.add_column()
    grid.add_row(Text("keys", style="bold underline"), "")
    for key, meaning in _KEYS:
        grid.add_row(key, meaning)
    grid.add_row("", "")
    grid.add_row(Text("colours", style="bold underline"), "")
    grid.add_row(
        Text("efficiency", style="bold"),
        Text.assemble(
            banded("green", Band.OK),
            f" {EFFICIENCY_LOW:.2f} to {EFFICIENCY_HIGH:.2f}, ",
            banded("yellow", Band.WARN),
            " below (worth a look), ",
            banded("red", Band.BAD),
            " above (impossible: units, a counter reset or a wrong link)",
        ),
    )
    grid.add_row(
        Text("battery", style="bold"),
        Text.assemble(banded("yellow", Band.WARN), f" above {BATTERY_HOT_C:.0f} °C"),
    )
    grid.add_row(
        Text("voltage", style="bold"),
        Text.assemble(
            banded("green", Band.OK),
            f" {VOLTAGE_LOW:.0f} to {VOLTAGE_HIGH:.0f} V, ",
            banded("yellow", Band.WARN),
            " out of range, ",
            banded("red", Band.BAD),
            " 0 V: an outage",
        ),
    )
    grid.add_row(
        Text("header", style="bold"),
        Text.assemble(
            banded("red", Band.BAD),
            ": no answer, or one the monitor cannot use; the data shown stays, and the"
            " polls back off and resume by themselves",
        ),
    )
    return grid


class HelpScreen(ModalScreen[None]):
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape,question_mark", "app.pop_screen", "Close"),
    ]

    def compose(self) -> ComposeResult:
        with VerticalScroll(id="help"):
            yield Static(_help())

    def on_mount(self) -> None:
        self.query_one("#help").border_title = "ingest-monitor help"
