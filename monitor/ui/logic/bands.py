"""Which readings deserve a look, by the thresholds of the alert rules of docs/api.md and the
domain's usual ranges. Pure functions, so the colours on screen are tested without a terminal."""

from __future__ import annotations

from enum import Enum

EFFICIENCY_LOW = 0.80
EFFICIENCY_HIGH = 1.0
BATTERY_HOT_C = 45.0
VOLTAGE_LOW = 207.0
VOLTAGE_HIGH = 253.0


class Band(Enum):
    OK = "ok"
    WARN = "warn"
    BAD = "bad"
    NONE = "none"
    """No value to judge (no AC energy yet, never reported)."""


def efficiency(ratio: float | None) -> Band:
    """Below 0.80 deserves a look; above 1.0 is impossible (units, a counter reset, a wrong
    link), so it is worse than low."""
    if ratio is None:
        return Band.NONE
    if ratio > EFFICIENCY_HIGH:
        return Band.BAD
    if ratio < EFFICIENCY_LOW:
        return Band.WARN
    return Band.OK


def battery_temp(celsius: float | None) -> Band:
    if celsius is None:
        return Band.NONE
    return Band.WARN if celsius > BATTERY_HOT_C else Band.OK


def voltage(volts: float | None) -> Band:
    """0 V is an outage, a real reading; outside 207 to 253 V is out of range."""
    if volts is None:
        return Band.NONE
    if volts == 0:
        return Band.BAD
    if VOLTAGE_LOW <= volts <= VOLTAGE_HIGH:
        return Band.OK
    return Band.WARN


def database(state: str) -> Band:
    return Band.OK if state == "ok" else Band.BAD


def alerts(names: tuple[str, ...]) -> Band:
    return Band.BAD if names else Band.OK
