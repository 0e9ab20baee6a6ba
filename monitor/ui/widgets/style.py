"""One colour per band, so a green number means the same thing in every panel and table."""

from __future__ import annotations

from rich.text import Text

from monitor.ui.logic.bands import Band

_STYLES = {Band.OK: "green", Band.WARN: "yellow", Band.BAD: "bold red", Band.NONE: ""}


def banded(text: str, band: Band) -> Text:
    return Text(text, style=_STYLES[band])


def label(text: str) -> Text:
    """A figure's name, dimmed so that the figures themselves stand out."""
    return Text(text, style="dim")
