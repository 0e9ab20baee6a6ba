"""Readings as a device would send them, with timestamps relative to now."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import trio


def at(minutes_ago: float = 0.0, *, hours_ago: float = 0.0) -> str:
    moment = datetime.now(UTC) - timedelta(minutes=minutes_ago, hours=hours_ago)
    return moment.isoformat(timespec="microseconds").replace("+00:00", "Z")


def meter(
    meter_id: str = "meter-001", *, kwh: float = 1.5, voltage: float = 230.0, ts: str | None = None
) -> dict[str, Any]:
    return {"meterId": meter_id, "kwhConsumedAc": kwh, "voltage": voltage, "timestamp": ts or at()}


def vehicle(
    vehicle_id: str = "vehicle-001",
    *,
    soc: float = 50.0,
    kwh: float = 1.2,
    temp: float = 30.0,
    ts: str | None = None,
) -> dict[str, Any]:
    return {
        "vehicleId": vehicle_id,
        "soc": soc,
        "kwhDeliveredDc": kwh,
        "batteryTemp": temp,
        "timestamp": ts or at(),
    }


def assert_error(response: httpx.Response, status: int, *fields: str) -> dict[str, Any]:
    """The contract's one error shape, with every named field among the details."""
    assert response.status_code == status, response.text
    body: dict[str, Any] = response.json()
    assert body["statusCode"] == status
    assert isinstance(body["error"], str)
    assert body["error"]
    assert isinstance(body["message"], str)
    assert body["message"]
    details = body.get("details", [])
    if fields:
        assert {d["field"] for d in details} >= set(fields), body
        assert details[0]["field"] in body["message"], body
    return body


async def eventually(check: Callable[[], Awaitable[object]], interval_s: float = 0.05) -> None:
    """Poll until ``check`` returns something truthy (the test's ``fail_after`` bounds it)."""
    while True:
        if await check():
            return
        await trio.sleep(interval_s)
