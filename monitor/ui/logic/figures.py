"""Numbers, durations and ages as short text for narrow panels and table cells.

Pure and locale-free, so what the snapshot tests see is what every terminal sees. Missing
values are a hyphen, never "None" or 0, since 0 is a real reading (an outage, an idle hour).
"""

from __future__ import annotations

from datetime import datetime

MISSING = "-"


def count(value: int) -> str:
    """Exact up to a million, then compact: engine totals grow past what a panel can hold."""
    if value < 1_000_000:
        return f"{value:,}"
    if value < 1_000_000_000:
        return f"{value / 1_000_000:.1f} M"
    return f"{value / 1_000_000_000:.1f} G"


def rate(per_second: float) -> str:
    return f"{per_second:,.1f}"


def number(value: float | None, digits: int = 1) -> str:
    return MISSING if value is None else f"{value:,.{digits}f}"


def ratio(value: float | None) -> str:
    return MISSING if value is None else f"{value:.3f}"


def milliseconds(seconds: float | None) -> str:
    if seconds is None:
        return MISSING
    millis = seconds * 1000
    return f"{millis:.1f} ms" if millis < 10 else f"{millis:,.0f} ms"


def duration(seconds: float) -> str:
    """Two units at most ("3 h 05 m"): enough to tell a restart from a long run."""
    whole = max(0, int(seconds))
    days, rest = divmod(whole, 86_400)
    hours, rest = divmod(rest, 3_600)
    minutes, secs = divmod(rest, 60)
    if days:
        return f"{days} d {hours:02d} h"
    if hours:
        return f"{hours} h {minutes:02d} m"
    if minutes:
        return f"{minutes} m {secs:02d} s"
    return f"{secs} s"


def age(seconds: float) -> str:
    """Tenths under ten seconds, where a refresh every two seconds is worth seeing."""
    if seconds < 10:
        return f"{max(0.0, seconds):.1f} s"
    return duration(seconds)


def since(moment: datetime | None, now: datetime) -> str:
    if moment is None:
        return MISSING
    return age((now - moment).total_seconds())


def clock_time(moment: datetime) -> str:
    return moment.strftime("%H:%M")
