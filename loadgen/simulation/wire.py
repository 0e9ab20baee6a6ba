"""Samples as devices put them on the wire (docs/api.md), and the invalid payloads faults inject."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from loadgen.simulation.fleet import MeterSample, VehicleSample


def timestamp(ts: datetime) -> str:
    """Whole-minute UTC timestamps, the way a meter's firmware writes them."""
    return ts.strftime("%Y-%m-%dT%H:%M:%SZ")


def meter(sample: MeterSample, ts: str) -> dict[str, Any]:
    return {
        "meterId": sample.meter_id,
        "kwhConsumedAc": sample.kwh_consumed_ac,
        "voltage": sample.voltage,
        "timestamp": ts,
    }


def vehicle(sample: VehicleSample, ts: str) -> dict[str, Any]:
    return {
        "vehicleId": sample.vehicle_id,
        "soc": sample.soc,
        "kwhDeliveredDc": sample.kwh_delivered_dc,
        "batteryTemp": sample.battery_temp,
        "timestamp": ts,
    }


def _broken(change: Callable[[dict[str, Any]], None]) -> Callable[[dict[str, Any]], dict[str, Any]]:
    def make(valid: dict[str, Any]) -> dict[str, Any]:
        payload = dict(valid)
        change(payload)
        return payload

    return make


INVALID: tuple[Callable[[dict[str, Any]], dict[str, Any]], ...] = (
    _broken(lambda p: p.update(soc=150.0)),
    _broken(lambda p: p.update(batteryTemp="hot")),
    _broken(lambda p: p.update(kwhDeliveredDc=-1.0)),
    _broken(lambda p: p.update(timestamp=p["timestamp"].rstrip("Z"))),
    _broken(lambda p: p.pop("timestamp")),
    _broken(lambda p: p.update(meterId="meter-x")),
    _broken(lambda p: p.update(firmware="1.2.3")),
    _broken(lambda p: p.update(soc=None)),
    _broken(lambda p: p.update(vehicleId="-bad id")),
)
"""Ways a vehicle reading goes wrong in the field; every one must be refused with a 400."""
