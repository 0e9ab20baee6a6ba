"""The line at the top of every screen: which daemon, whether it answers, how old the data is."""

from __future__ import annotations

from collections.abc import Callable

from rich.text import Text
from textual.reactive import reactive
from textual.widget import Widget

from monitor.ui.logic.link import Link, describe
from monitor.ui.widgets.style import banded

_TICK_S = 0.5
"""How often the age is redrawn between polls: "updated 1.2 s ago" has to keep counting."""


class StatusHeader(Widget):
    link: reactive[Link] = reactive(Link)

    def __init__(self, url: str, monotonic: Callable[[], float], link: Link | None = None) -> None:
        super().__init__()
        self._url = url
        self._monotonic = monotonic
        if link is not None:
            self.set_reactive(StatusHeader.link, link)

    def on_mount(self) -> None:
        self.set_interval(_TICK_S, self.refresh)

    def render(self) -> Text:
        line = Text(self._url, "bold")
        for part, band in describe(self.link, self._monotonic()):
            line.append("  ")
            line.append_text(banded(part, band))
        return line
