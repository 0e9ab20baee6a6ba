"""One fleet list (vehicles or meters): a filter, one page of rows, and where it is in the list.

Only one page (100 rows) is ever held or drawn, so 10,000 devices cost what 100 do. The view
owns its query; when the user changes it, the view says so (``QueryChanged``) and the screen
fetches at once. A page answering a query the user has since left is dropped.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any, Generic, TypeVar

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.message import Message
from textual.widgets import DataTable, Input, Static

from monitor.api.wire import ListQuery, Page
from monitor.ui.logic.paging import Pager
from monitor.ui.widgets.columns import Column, sorts
from monitor.ui.widgets.style import label

Row = TypeVar("Row")

ID_CHARACTERS = r"[A-Za-z0-9._:-]*"
"""What a device id may contain (docs/api.md): a filter outside it could never match."""


class DeviceView(Vertical, Generic[Row]):
    class QueryChanged(Message):
        """The user asked for other rows: another sort, filter, page or alerts setting."""

    class DeviceChosen(Message):
        """Enter on a row."""

        def __init__(self, view: DeviceView[Any], device_id: str) -> None:
            super().__init__()
            self.view = view
            self.device_id = device_id

        @property
        def control(self) -> DeviceView[Any]:
            return self.view

    def __init__(
        self,
        columns: tuple[Column[Row], ...],
        device_id: Callable[[Row], str],
        *,
        page_size: int,
        now: Callable[[], datetime],
        id: str,
    ) -> None:
        super().__init__(id=id)
        self._columns = columns
        self._device_id = device_id
        self._now = now
        self._sorts = sorts(columns)
        self.pager = Pager(ListQuery(limit=page_size))
        self.page: Page[Row] | None = None
        self._ids: list[str] = []
        self._to_top = False
        # Held rather than queried, like the screen's widgets: a page may arrive as it closes.
        self.table: DataTable[Text] = DataTable(cursor_type="row", zebra_stripes=True)
        self._filter = Input(
            placeholder="device id contains…", restrict=ID_CHARACTERS, max_length=64, compact=True
        )
        self._alerts = Static(classes="alerts-flag")
        self._rows = Static(classes="rows")

    def compose(self) -> ComposeResult:
        with Horizontal(classes="toolbar"):
            yield Static(label("filter /"), classes="filter-label")
            yield self._filter
            yield self._alerts
            yield self._rows
        yield self.table

    def on_mount(self) -> None:
        self._draw()

    @property
    def shown_ids(self) -> tuple[str, ...]:
        """The devices on screen, top to bottom."""
        return tuple(self._ids)

    def show(self, query: ListQuery, page: Page[Row]) -> None:
        if query != self.pager.query:
            return
        self.page = page
        self._draw()
        self._to_top = False

    def cycle_sort(self) -> None:
        sorts = self._sorts
        following = sorts[(sorts.index(self.pager.query.sort) + 1) % len(sorts)]
        self._change(self.pager.sorted_by(following, "asc"))

    def flip_order(self) -> None:
        query = self.pager.query
        self._change(self.pager.sorted_by(query.sort, "desc" if query.order == "asc" else "asc"))

    def toggle_alerts(self) -> None:
        self._change(self.pager.alerts_only(not self.pager.query.alerts_only))

    def next_page(self) -> None:
        forward = None if self.page is None else self.pager.forward(self.page)
        if forward is not None:
            self._change(forward, top=True)

    def previous_page(self) -> None:
        back = self.pager.back()
        if back is not None:
            self._change(back, top=True)

    def focus_filter(self) -> None:
        self._filter.focus()

    def on_input_changed(self, event: Input.Changed) -> None:
        event.stop()
        if event.value != self.pager.query.q:
            self._change(self.pager.filtered(event.value), top=True)

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        self.table.focus()

    def on_data_table_header_selected(self, event: DataTable.HeaderSelected) -> None:
        event.stop()
        sort = self._columns[event.column_index].sort
        if sort == self.pager.query.sort:
            self.flip_order()
        elif sort is not None:
            self._change(self.pager.sorted_by(sort, "asc"))

    def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        event.stop()
        if 0 <= event.cursor_row < len(self._ids):
            self.post_message(self.DeviceChosen(self, self._ids[event.cursor_row]))

    def _change(self, pager: Pager, *, top: bool = False) -> None:
        self.pager = pager
        self._to_top = self._to_top or top
        self._draw()
        self.post_message(self.QueryChanged())

    def _draw(self) -> None:
        """Redraw the table from the held page: labels first (the sort arrow moves at once),
        then the rows, keeping the cursor on the same device when it is still there."""
        table = self.table
        chosen = self._ids[table.cursor_row] if 0 <= table.cursor_row < len(self._ids) else None
        position, scroll_x, scroll_y = table.cursor_row, table.scroll_x, table.scroll_y
        if self._to_top:
            chosen, position, scroll_y = None, 0, 0.0
        table.clear(columns=True)
        query = self.pager.query
        for column in self._columns:
            arrow = ("▲" if query.order == "asc" else "▼") if column.sort == query.sort else ""
            heading = Text(column.label + arrow, no_wrap=True)
            heading.justify = "right" if column.numeric else "left"
            table.add_column(heading, width=column.room)
        items = () if self.page is None else self.page.items
        now = self._now()
        for row in items:
            table.add_row(*(column.cell(row, now) for column in self._columns))
        self._ids = [self._device_id(row) for row in items]
        if self._ids:
            target = self._ids.index(chosen) if chosen in self._ids else position
            table.move_cursor(row=min(target, len(self._ids) - 1), scroll=False)
            self.call_after_refresh(table.scroll_to, x=scroll_x, y=scroll_y, animate=False)
        self._alerts.update(
            Text("alerts only", style="bold yellow") if query.alerts_only else label("all")
        )
        self._rows.update(label("-") if self.page is None else self.pager.rows_label(self.page))
