"""Proof, not hope: the engine's answers compared with what the generator knows it had
acknowledged. Latest state must be the newest acknowledged reading, to the value; 24-hour
analytics must sum exactly the acknowledged readings inside the window the engine reports
(duplicates once, rejected readings never). Floats are compared to 1e-9 relative, since
PostgreSQL may add in another order."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any

import httpx

from loadgen.engine.client import Engine
from loadgen.engine.pool import fan_out, feed_all
from loadgen.simulation import wire
from loadgen.simulation.ledger import ExpectedPerformance, ExpectedStatus, Kind, Ledger

MAX_SHOWN = 50


@dataclass(frozen=True, slots=True)
class Mismatch:
    device: str
    what: str
    expected: object
    got: object

    def line(self) -> str:
        return f"{self.device}: {self.what}: expected {self.expected!r}, got {self.got!r}"


@dataclass
class Verification:
    planned: int = 0
    """Sites to check; the others count up to it as the verification goes."""
    checked: int = 0
    unverifiable: int = 0
    """Sites with a reading of unknown fate (the run gave up on it): not judged."""
    mismatch_count: int = 0
    mismatches: list[Mismatch] = field(default_factory=list)

    def add(self, mismatch: Mismatch) -> None:
        self.mismatch_count += 1
        if len(self.mismatches) < MAX_SHOWN:
            self.mismatches.append(mismatch)

    @property
    def done(self) -> int:
        return self.checked + self.unverifiable

    def merge(self, other: Verification) -> None:
        self.planned += other.planned
        self.checked += other.checked
        self.unverifiable += other.unverifiable
        self.mismatch_count += other.mismatch_count
        self.mismatches.extend(other.mismatches[: MAX_SHOWN - len(self.mismatches)])

    def to_json(self) -> dict[str, Any]:
        return {
            "planned": self.planned,
            "checked": self.checked,
            "unverifiable": self.unverifiable,
            "mismatch_count": self.mismatch_count,
            "mismatches": [asdict(m) for m in self.mismatches],
        }

    @staticmethod
    def from_json(data: dict[str, Any]) -> Verification:
        return Verification(
            planned=data["planned"],
            checked=data["checked"],
            unverifiable=data["unverifiable"],
            mismatch_count=data["mismatch_count"],
            mismatches=[Mismatch(**m) for m in data["mismatches"]],
        )


def close(a: float | None, b: float | None) -> bool:
    if a is None or b is None:
        return a is b
    return math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-9)


def compare_status(
    device: str, expected: ExpectedStatus | None, got: dict[str, Any] | None
) -> list[Mismatch]:
    if expected is None:
        return [] if got is None else [Mismatch(device, "status", None, got)]
    if got is None:
        return [Mismatch(device, "status", "a reading", "404")]
    found = []
    want_ts = wire.timestamp(expected.ts).replace("Z", ".000Z")
    if got.get("ts") != want_ts:
        found.append(Mismatch(device, "status ts", want_ts, got.get("ts")))
    for key, value in expected.values.items():
        if got.get(key) != value:
            found.append(Mismatch(device, f"status {key}", value, got.get(key)))
    return found


def compare_performance(
    device: str, expected: ExpectedPerformance, got: dict[str, Any]
) -> list[Mismatch]:
    pairs: list[tuple[str, float | None, Any]] = [
        ("totalEnergyConsumedAc", expected.ac_kwh, got.get("totalEnergyConsumedAc")),
        ("totalEnergyDeliveredDc", expected.dc_kwh, got.get("totalEnergyDeliveredDc")),
        ("efficiencyRatio", expected.efficiency, got.get("efficiencyRatio")),
        ("avgBatteryTemp", expected.avg_battery_temp, got.get("avgBatteryTemp")),
    ]
    found = [
        Mismatch(device, name, want, have) for name, want, have in pairs if not close(want, have)
    ]
    for name, count in (
        ("vehicleReadings", expected.vehicle_readings),
        ("meterReadings", expected.meter_readings),
    ):
        if got.get(name) != count:
            found.append(Mismatch(device, name, count, got.get(name)))
    return found


async def _get(engine: Engine, http: httpx.AsyncClient, path: str) -> dict[str, Any] | None:
    response, _ = await engine.call(http, "GET", path, accept=(200, 404))
    if response.status_code == 404:
        return None
    body: dict[str, Any] = response.json()
    return body


async def _verify_site(
    engine: Engine, http: httpx.AsyncClient, ledger: Ledger, position: int, into: Verification
) -> None:
    if ledger.has_uncertain(position):
        into.unverifiable += 1
        return
    spec = ledger.sites[position].spec
    found: list[Mismatch] = []
    for kind, device, path in (
        (Kind.VEHICLE, spec.vehicle_id, f"/v1/status/vehicle/{spec.vehicle_id}"),
        (Kind.METER, spec.meter_id, f"/v1/status/meter/{spec.meter_id}"),
    ):
        got = await _get(engine, http, path)
        found += compare_status(device, ledger.status(position, kind), got)
    performance = await _get(engine, http, f"/v1/analytics/performance/{spec.vehicle_id}")
    if performance is None:
        found.append(Mismatch(spec.vehicle_id, "analytics", "a linked meter", "404"))
    else:
        start = datetime.fromisoformat(performance["windowStart"])
        end = datetime.fromisoformat(performance["windowEnd"])
        expected = ledger.performance(position, start, end)
        if expected is None:
            into.unverifiable += 1
            return
        found += compare_performance(spec.vehicle_id, expected, performance)
    into.checked += 1
    for mismatch in found:
        into.add(mismatch)


async def verify(
    engine: Engine,
    ledger: Ledger,
    positions: list[int],
    *,
    concurrency: int,
    into: Verification,
) -> None:
    """Check the sites at ``positions``, counting into ``into`` as it goes (the progress line
    reads it, and a run stopped halfway still reports what was checked)."""
    into.planned += len(positions)

    async def one(http: httpx.AsyncClient, position: int) -> None:
        await _verify_site(engine, http, ledger, position, into)

    await fan_out(engine.client, concurrency, feed_all(positions), one)
