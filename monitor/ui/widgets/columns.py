"""The columns of the vehicles and meters tables: label, width, the API sort key if any, and
how a cell is drawn (coloured by band). Widths are fixed so columns do not jump between pages;
the most telling columns come first, so an 80-column terminal shows them without scrolling."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Generic, TypeVar

from rich.text import Text

from monitor.api.wire import MeterRow, VehicleRow
from monitor.ui.logic import bands, figures
from monitor.ui.logic.bands import Band
from monitor.ui.widgets.style import banded

Row = TypeVar("Row")


@dataclass(frozen=True, slots=True)
class Column(Generic[Row]):
    label: str
    width: int
    cell: Callable[[Row, datetime], Text]
    """The cell of one row, given the time now (for ages)."""
    sort: str | None = None
    """The API's ``sort`` value for this column; None when the API cannot sort by it."""
    numeric: bool = False
    """Right-aligned, label and cells, so digits line up."""

    @property
    def room(self) -> int:
        """The column's width on screen: a sortable one keeps room for the sort arrow after
        its label, which a right-aligned label would otherwise lose."""
        return max(self.width, len(self.label) + 1) if self.sort is not None else self.width


def _plain(text: str) -> Text:
    return Text(text, no_wrap=True, overflow="ellipsis")


def _figure(text: str, band: Band = Band.NONE) -> Text:
    figure = banded(text, band)
    figure.justify = "right"
    return figure


def _alerts(names: tuple[str, ...]) -> Text:
    return banded(", ".join(names), bands.alerts(names))


def _battery_temp(row: VehicleRow, _: datetime) -> Text:
    return _figure(figures.number(row.battery_temp), bands.battery_temp(row.battery_temp))


def _efficiency(row: VehicleRow, _: datetime) -> Text:
    return _figure(figures.ratio(row.efficiency_24h), bands.efficiency(row.efficiency_24h))


def _voltage(row: MeterRow, _: datetime) -> Text:
    band = bands.voltage(row.voltage)
    text = figures.number(row.voltage)
    return _figure(f"outage {text}" if band is Band.BAD else text, band)


VEHICLE_COLUMNS: tuple[Column[VehicleRow], ...] = (
    Column("vehicle", 16, lambda row, _: _plain(row.vehicle_id), "id"),
    Column("SoC %", 6, lambda row, _: _figure(figures.number(row.soc)), "soc", numeric=True),
    Column("temp °C", 7, _battery_temp, "batteryTemp", numeric=True),
    Column("eff 24h", 7, _efficiency, "efficiency", numeric=True),
    Column("alerts", 22, lambda row, _: _alerts(row.alerts)),
    Column("seen ago", 9, lambda row, now: _plain(figures.since(row.last_seen, now)), "lastSeen"),
    Column("DC 24h", 8, lambda row, _: _figure(figures.number(row.dc_kwh_24h, 2)), numeric=True),
    Column("AC 24h", 8, lambda row, _: _figure(figures.number(row.ac_kwh_24h, 2)), numeric=True),
    Column(
        "DC kWh",
        7,
        lambda row, _: _figure(figures.number(row.kwh_delivered_dc, 3)),
        numeric=True,
    ),
    Column("meter", 16, lambda row, _: _plain(row.meter_id or figures.MISSING)),
)

METER_COLUMNS: tuple[Column[MeterRow], ...] = (
    Column("meter", 16, lambda row, _: _plain(row.meter_id), "id"),
    Column("volts", 12, _voltage, "voltage", numeric=True),
    Column("alerts", 22, lambda row, _: _alerts(row.alerts)),
    Column("seen ago", 9, lambda row, now: _plain(figures.since(row.last_seen, now)), "lastSeen"),
    Column("AC 24h", 8, lambda row, _: _figure(figures.number(row.ac_kwh_24h, 2)), numeric=True),
    Column(
        "AC kWh",
        7,
        lambda row, _: _figure(figures.number(row.kwh_consumed_ac, 3)),
        numeric=True,
    ),
)


def sorts(columns: tuple[Column[Row], ...]) -> tuple[str, ...]:
    """The sort keys in the order ``s`` cycles through them."""
    return tuple(column.sort for column in columns if column.sort is not None)
