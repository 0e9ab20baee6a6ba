"""The engine panel: how fast readings go in, and whether the writers keep up.

The sparkline's history is kept here, from successive summaries, since the daemon reports only
its current rate; it starts empty whenever the monitor starts.
"""

from __future__ import annotations

from collections import deque
from datetime import datetime

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Vertical
from textual.reactive import reactive
from textual.widgets import Sparkline, Static

from monitor.api.wire import FleetSummary
from monitor.ui.logic import bands, figures
from monitor.ui.widgets.style import banded, label


class EnginePanel(Vertical):
    summary: reactive[FleetSummary | None] = reactive(None)

    def __init__(self, history_points: int) -> None:
        super().__init__()
        self._history: deque[float] = deque(maxlen=history_points)
        self._sampled_at: datetime | None = None
        self.border_title = "engine"
        self._rate = Static()
        self._sparkline = Sparkline([], id="rate-history")
        self._figures = Static()

    def compose(self) -> ComposeResult:
        yield self._rate
        yield self._sparkline
        yield self._figures

    def watch_summary(self, summary: FleetSummary | None) -> None:
        if summary is None:
            return
        engine = summary.engine
        if summary.as_of != self._sampled_at:
            self._history.append(engine.readings_per_second)
            self._sampled_at = summary.as_of
        # As wide as its history until full: fewer points than cells would be stretched.
        self._sparkline.data = list(self._history)
        self._sparkline.styles.max_width = len(self._history)
        self._rate.update(
            Text.assemble((figures.rate(engine.readings_per_second), "bold"), label(" readings/s"))
        )
        queues = " ".join(str(depth) for depth in engine.queue_depth) or figures.MISSING
        lines = [
            Text.assemble(
                label("accepted "),
                figures.count(engine.accepted),
                label("  rejected "),
                figures.count(engine.rejected),
            ),
            Text.assemble(label("queue depth "), queues),
            Text.assemble(
                label("flush p50 "),
                figures.milliseconds(engine.flush_p50_s),
                label("  p99 "),
                figures.milliseconds(engine.flush_p99_s),
            ),
            Text.assemble(
                label("db "),
                banded(engine.database, bands.database(engine.database)),
                label("  workers "),
                str(engine.workers),
                label("  up "),
                figures.duration(engine.uptime_s),
            ),
        ]
        self._figures.update(Text("\n").join(lines))
