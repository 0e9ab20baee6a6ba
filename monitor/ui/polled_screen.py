"""What every screen of the monitor shares: a status header and one exclusive poll worker.

A subclass says what one cycle fetches (``cycle``) and draws what it posts. Here: the worker,
which schedules the next cycle only after the last one ended and is restarted (cancelling the
one in flight) by ``r`` or any change of what is shown, and the header's part of the facts:
readiness, a whole cycle answered, a cycle failed. A failure changes nothing else on screen,
so the last data stays, dimmed, until the daemon answers again.
"""

from __future__ import annotations

from textual import work
from textual.screen import Screen

from monitor.api.client import DaemonApi
from monitor.api.errors import DaemonError
from monitor.api.polling import poll_forever
from monitor.ui.logic.link import Link
from monitor.ui.messages import DaemonAnswered, PollFailed, ReadinessChecked
from monitor.ui.settings import Settings
from monitor.ui.widgets.header import StatusHeader


class PolledScreen(Screen[None]):
    def __init__(self, api: DaemonApi, settings: Settings, link: Link | None = None) -> None:
        super().__init__()
        self.api = api
        self.settings = settings
        # Held rather than queried: the worker and its messages may outlive the widgets by a
        # moment when the screen closes, and a query then would fail.
        self.header = StatusHeader(settings.url, settings.clock.monotonic, link)

    async def cycle(self) -> None:
        """Fetch what the screen shows and post it as messages; raise ``DaemonError``."""
        raise NotImplementedError

    def on_screen_resume(self) -> None:
        """Shown, or shown again (back from the detail or the help): fresh data at once."""
        self.poll()

    @work(exclusive=True, group="poll")
    async def poll(self) -> None:
        """(Re)start polling now: a new worker cancels the one waiting or in flight."""
        await poll_forever(
            self._checked_cycle,
            self._failed,
            every_s=self.settings.refresh_s,
            backoff=self.settings.backoff,
        )

    async def _checked_cycle(self) -> None:
        self.post_message(ReadinessChecked(await self.api.readiness()))
        await self.cycle()
        self.post_message(DaemonAnswered(self.settings.clock.monotonic()))

    def _failed(self, problem: DaemonError, retry_in_s: float) -> None:
        self.post_message(PollFailed(problem, self.settings.clock.monotonic(), retry_in_s))

    def on_readiness_checked(self, message: ReadinessChecked) -> None:
        self.header.link = self.header.link.checked(message.readiness)

    def on_daemon_answered(self, message: DaemonAnswered) -> None:
        self.header.link = self.header.link.answered(message.at)
        self.remove_class("-stale")

    def on_poll_failed(self, message: PollFailed) -> None:
        self.header.link = self.header.link.failed(message.problem, message.at, message.retry_in_s)
        self.add_class("-stale")

    def action_refresh(self) -> None:
        self.poll()
