"""The Textual app: the main screen, the help screen, quitting. Everything it shows comes from
the ``DaemonApi`` it is given, a real client or fixed data in the snapshot tests."""

from __future__ import annotations

from typing import ClassVar

from textual.app import App
from textual.binding import Binding, BindingType

from monitor.api.client import DaemonApi
from monitor.ui.fleet_screen import FleetScreen
from monitor.ui.help_screen import HelpScreen
from monitor.ui.settings import Settings


class MonitorApp(App[None]):
    CSS_PATH = "monitor.tcss"
    TITLE = "ingest-monitor"
    ENABLE_COMMAND_PALETTE = False
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("q", "quit", "Quit"),
        Binding("question_mark", "help", "Help"),
    ]

    def __init__(self, api: DaemonApi, settings: Settings) -> None:
        super().__init__()
        self.api = api
        self.settings = settings

    def get_default_screen(self) -> FleetScreen:
        return FleetScreen(self.api, self.settings)

    def action_help(self) -> None:
        if not isinstance(self.screen, HelpScreen):
            self.push_screen(HelpScreen())
