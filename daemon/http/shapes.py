"""The wire form of every answer (docs/api.md): field names, time format and ratios, shaped from
the records and rows the store returns. Seed endpoints keep the original service's names."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from daemon.metrics.engine import Engine
from daemon.reads.analytics import Hourly, Performance, Totals
from daemon.reads.fleet import VEHICLES, Page
from daemon.reads.records import LinkRecord, MeterStatus, VehicleStatus, ratio
from daemon.reads.window import FleetWindow


def rfc3339(moment: datetime) -> str:
    """RFC 3339 in UTC with milliseconds and ``Z``, the one time format of the API."""
    return (
        moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"
    )


def meter_status(status: MeterStatus) -> dict[str, Any]:
    return {
        "meter_id": status.meter_id,
        "kwh_consumed_ac": status.kwh_consumed_ac,
        "voltage": status.voltage,
        "ts": rfc3339(status.ts),
        "updated_at": rfc3339(status.updated_at),
    }


def vehicle_status(status: VehicleStatus) -> dict[str, Any]:
    return {
        "vehicle_id": status.vehicle_id,
        "soc": status.soc,
        "kwh_delivered_dc": status.kwh_delivered_dc,
        "battery_temp": status.battery_temp,
        "ts": rfc3339(status.ts),
        "updated_at": rfc3339(status.updated_at),
    }


def link(record: LinkRecord) -> dict[str, Any]:
    return {
        "vehicleId": record.vehicle_id,
        "meterId": record.meter_id,
        "linkedAt": rfc3339(record.linked_at),
    }


def _totals(totals: Totals) -> dict[str, Any]:
    return {
        "totalEnergyConsumedAc": totals.ac_kwh,
        "totalEnergyDeliveredDc": totals.dc_kwh,
        "efficiencyRatio": totals.efficiency,
        "avgBatteryTemp": totals.avg_battery_temp,
        "vehicleReadings": totals.vehicle_readings,
        "meterReadings": totals.meter_readings,
    }


def performance(result: Performance) -> dict[str, Any]:
    return {
        "vehicleId": result.vehicle_id,
        "meterId": result.meter_id,
        "windowStart": rfc3339(result.window_start),
        "windowEnd": rfc3339(result.window_end),
        **_totals(result),
    }


def hourly(result: Hourly) -> dict[str, Any]:
    return {
        "vehicleId": result.vehicle_id,
        "meterId": result.meter_id,
        "hours": [{"hourStart": rfc3339(hour.start), **_totals(hour)} for hour in result.hours],
    }


def window(fleet_window: FleetWindow) -> dict[str, str]:
    return {"windowStart": rfc3339(fleet_window.start), "windowEnd": rfc3339(fleet_window.end)}


def _vehicle_item(row: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "vehicleId": row["vehicle_id"],
        "meterId": row["meter_id"],
        "soc": row["soc"],
        "batteryTemp": row["battery_temp"],
        "kwhDeliveredDc": row["kwh_delivered_dc"],
        "lastSeen": rfc3339(row["last_seen"]),
        "dcKwh24h": float(row["dc_kwh"]),
        "acKwh24h": float(row["ac_kwh"]),
        "efficiency24h": ratio(float(row["dc_kwh"]), float(row["ac_kwh"])),
        "alerts": list(row["alerts"]),
    }


def _meter_item(row: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "meterId": row["meter_id"],
        "voltage": row["voltage"],
        "kwhConsumedAc": row["kwh_consumed_ac"],
        "lastSeen": rfc3339(row["last_seen"]),
        "acKwh24h": float(row["ac_kwh"]),
        "alerts": list(row["alerts"]),
    }


def page(result: Page) -> dict[str, Any]:
    item = _vehicle_item if result.query.kind is VEHICLES else _meter_item
    return {
        "items": [item(row) for row in result.shown],
        "total": result.total,
        "nextCursor": result.next_cursor,
        **window(result.window),
    }


def engine(figures: Engine, database: str) -> dict[str, Any]:
    """The summary's engine part; ``database`` is "ok" or why the writers cannot commit."""
    return {
        "workers": figures.workers,
        "readingsPerSecond": figures.readings_per_second,
        "accepted": figures.accepted,
        "rejected": figures.rejected,
        "queueDepth": figures.queue_depth,
        "flushSeconds": {"p50": figures.flush_p50_s, "p99": figures.flush_p99_s},
        "uptimeSeconds": figures.uptime_s,
        "database": database,
    }


def summary(row: Mapping[str, Any], engine_part: Mapping[str, Any]) -> dict[str, Any]:
    """The fleet summary, from ``fleet.SUMMARY_SQL``'s row and the engine's part."""
    return {
        "asOf": rfc3339(row["as_of"]),
        "vehicles": {
            "total": row["vehicles"],
            "reporting": row["v_reporting"],
            "stale": row["v_stale"],
            "charging": row["charging"],
            "alerts": row["v_alerts"],
        },
        "meters": {
            "total": row["meters"],
            "reporting": row["m_reporting"],
            "stale": row["m_stale"],
            "alerts": row["m_alerts"],
        },
        "links": row["links"],
        "fleetEfficiency": {
            **window(FleetWindow(row["window_start"])),
            "totalEnergyConsumedAc": row["ac_kwh"],
            "totalEnergyDeliveredDc": row["dc_kwh"],
            "efficiencyRatio": ratio(row["dc_kwh"], row["ac_kwh"]),
        },
        "engine": dict(engine_part),
    }
