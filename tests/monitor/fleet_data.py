"""A small fleet posted to a real daemon, with one device for each alert the monitor colours.

Site ``i`` is vehicle ``ev-ii`` charging from meter ``mt-ii``, reporting every 15 minutes over
the last three hours. State of charge is scrambled so that sorting by it differs from sorting
by id.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import httpx

from tests.support import at, meter, vehicle

SITES = 24
HOT, LOW, HIGH, OUTAGE, OUT_OF_RANGE, STALE, UNLINKED = 3, 5, 7, 9, 11, 13, 23


@dataclass(frozen=True)
class Fleet:
    vehicles: tuple[str, ...]
    soc: dict[str, float]
    alerting_vehicles: frozenset[str]
    alerting_meters: frozenset[str]
    unlinked: str


def vehicle_id(site: int) -> str:
    return f"ev-{site:02d}"


def meter_id(site: int) -> str:
    return f"mt-{site:02d}"


def _readings(site: int) -> list[dict[str, Any]]:
    efficiency = {LOW: 0.7, HIGH: 1.2}.get(site, 0.9)
    voltage = {OUTAGE: 0.0, OUT_OF_RANGE: 262.0}.get(site, 230.0)
    first = 20 if site == STALE else 1
    readings = []
    for minutes_ago in range(first, 180, 15):
        ts = at(minutes_ago=minutes_ago)
        readings.append(
            vehicle(
                vehicle_id(site),
                soc=float((site * 37) % 97),
                kwh=1.8,
                temp=50.0 if site == HOT else 30.0,
                ts=ts,
            )
        )
        readings.append(meter(meter_id(site), kwh=1.8 / efficiency, voltage=voltage, ts=ts))
    return readings


def post_fleet(url: str) -> Fleet:
    readings = [reading for site in range(SITES) for reading in _readings(site)]
    with httpx.Client(base_url=url, timeout=60) as http:
        response = http.post("/v1/ingest/batch", json=readings)
        assert response.status_code == 201, response.text
        for site in range(SITES):
            if site != UNLINKED:
                link = {"vehicleId": vehicle_id(site), "meterId": meter_id(site)}
                assert http.put("/v1/links", json=link).status_code == 200
    vehicles = tuple(vehicle_id(site) for site in range(SITES))
    return Fleet(
        vehicles=vehicles,
        soc={vehicle_id(site): float((site * 37) % 97) for site in range(SITES)},
        alerting_vehicles=frozenset(vehicle_id(site) for site in (HOT, LOW, HIGH, STALE)),
        alerting_meters=frozenset(meter_id(site) for site in (OUTAGE, OUT_OF_RANGE, STALE)),
        unlinked=vehicle_id(UNLINKED),
    )
