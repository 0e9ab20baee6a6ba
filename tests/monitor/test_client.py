"""The HTTP client against a real daemon, and against a server that answers what a broken
daemon (or something that is not the daemon) might: every failure is one of the three
``DaemonError`` kinds with a sentence, never an httpx or JSON exception."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Awaitable, Callable
from typing import TypeVar

import pytest

from monitor.api.client import DaemonClient
from monitor.api.errors import BadAnswer, NotFound, Unreachable
from monitor.api.wire import ListQuery, Readiness
from tests.monitor.conftest import DaemonProcess, OddServer, free_port
from tests.monitor.fleet_data import HOT, OUTAGE, SITES, STALE, meter_id, post_fleet, vehicle_id

_T = TypeVar("_T")
BEARER = "sesame"


def call(url: str, request: Callable[[DaemonClient], Awaitable[_T]], timeout_s: float = 10) -> _T:
    async def run() -> _T:
        async with DaemonClient(url, timeout_s=timeout_s, token=BEARER) as client:
            return await request(client)

    return asyncio.run(run())


def test_the_client_reads_every_view_of_a_real_daemon(ingestd: DaemonProcess) -> None:
    fleet = post_fleet(ingestd.url)
    url = ingestd.url

    assert call(url, lambda c: c.readiness()) == Readiness(ready=True, reason=None)
    summary = call(url, lambda c: c.summary())
    assert summary.vehicles.total == SITES
    assert summary.links == SITES - 1
    assert summary.engine.workers == 1

    page = call(url, lambda c: c.vehicles(ListQuery(limit=10)))
    assert page.total == SITES
    assert [row.vehicle_id for row in page.items] == list(fleet.vehicles[:10])
    assert page.next_cursor is not None
    rest = call(url, lambda c: c.vehicles(ListQuery(limit=100, cursor=page.next_cursor)))
    assert [row.vehicle_id for row in rest.items] == list(fleet.vehicles[10:])
    hot = next(row for row in page.items if row.vehicle_id == vehicle_id(HOT))
    assert "battery_hot" in hot.alerts

    meters = call(url, lambda c: c.meters(ListQuery(alerts_only=True)))
    outage = next(row for row in meters.items if row.meter_id == meter_id(OUTAGE))
    assert outage.voltage == 0.0
    assert "outage" in outage.alerts

    status = call(url, lambda c: c.vehicle_status(vehicle_id(STALE)))
    assert status.vehicle_id == vehicle_id(STALE)
    assert call(url, lambda c: c.meter_status(meter_id(HOT))).voltage == 230.0
    performance = call(url, lambda c: c.performance(vehicle_id(0)))
    assert performance.meter_id == meter_id(0)
    assert performance.ratio == pytest.approx(0.9)
    hourly = call(url, lambda c: c.hourly(vehicle_id(0)))
    assert len(hourly.hours) == 24
    assert sum(hour.dc_kwh for hour in hourly.hours) == pytest.approx(performance.dc_kwh)


def test_missing_things_are_not_found_with_the_daemons_sentence(ingestd: DaemonProcess) -> None:
    fleet = post_fleet(ingestd.url)
    with pytest.raises(NotFound, match=re.escape("Create a link via PUT /v1/links")):
        call(ingestd.url, lambda c: c.performance(fleet.unlinked))
    with pytest.raises(NotFound, match=re.escape("Create a link")):
        call(ingestd.url, lambda c: c.hourly(fleet.unlinked))
    with pytest.raises(NotFound, match=re.escape("Vehicle not found")):
        call(ingestd.url, lambda c: c.vehicle_status("never-seen"))


def test_a_bad_parameter_is_a_bad_answer_naming_it(ingestd: DaemonProcess) -> None:
    with pytest.raises(BadAnswer, match=re.escape("400")) as raised:
        call(ingestd.url, lambda c: c.vehicles(ListQuery(sort="voltage")))
    assert "sort" in str(raised.value)


def test_nothing_listening_is_unreachable() -> None:
    with pytest.raises(Unreachable, match=re.escape("cannot connect")):
        call(f"http://127.0.0.1:{free_port()}", lambda c: c.readiness())


def test_no_answer_in_time_is_unreachable(odd_server: OddServer) -> None:
    odd_server.json("/readyz", {"status": "ready"})
    odd_server.delay_s = 2.0
    with pytest.raises(Unreachable, match=re.escape("no answer within 0.5 s")):
        call(odd_server.url, lambda c: c.readiness(), timeout_s=0.5)


def test_a_connection_cut_without_an_answer_is_unreachable(odd_server: OddServer) -> None:
    odd_server.hang_up("/readyz")
    with pytest.raises(Unreachable, match=re.escape("the connection broke")):
        call(odd_server.url, lambda c: c.readiness())


def test_not_json_is_a_bad_answer(odd_server: OddServer) -> None:
    odd_server.raw("/v1/fleet/summary", b"<html>It works!</html>")
    with pytest.raises(
        BadAnswer, match=re.escape("/v1/fleet/summary answered 200 with something not JSON")
    ):
        call(odd_server.url, lambda c: c.summary())


def test_a_server_error_is_a_bad_answer_with_its_message(odd_server: OddServer) -> None:
    odd_server.json(
        "/v1/fleet/summary",
        {"statusCode": 500, "error": "Internal Server Error", "message": "boom"},
        status=500,
    )
    with pytest.raises(BadAnswer, match=re.escape("/v1/fleet/summary answered 500: boom")):
        call(odd_server.url, lambda c: c.summary())
    odd_server.raw("/v1/fleet/summary", b"<h1>Bad Gateway</h1>", status=502)
    with pytest.raises(BadAnswer, match=re.escape("answered 502: Bad Gateway")):
        call(odd_server.url, lambda c: c.summary())


def test_a_refused_token_is_a_bad_answer_with_its_message(odd_server: OddServer) -> None:
    odd_server.json("/v1/fleet/summary", {"statusCode": 401, "message": "Unknown token"}, 401)
    with pytest.raises(BadAnswer, match=re.escape("answered 401: Unknown token")):
        call(odd_server.url, lambda c: c.summary())
    assert odd_server.authorization == f"Bearer {BEARER}"


def test_a_wrong_shape_is_a_bad_answer_naming_the_route_and_field(odd_server: OddServer) -> None:
    odd_server.json("/v1/fleet/vehicles", {"items": [], "total": "many"})
    with pytest.raises(
        BadAnswer, match=re.escape("unexpected answer from /v1/fleet/vehicles: body.total")
    ):
        call(odd_server.url, lambda c: c.vehicles(ListQuery()))


def test_deeply_nested_json_is_a_bad_answer_not_a_recursion_error(odd_server: OddServer) -> None:
    odd_server.raw("/v1/fleet/summary", b"[" * 100_000 + b"]" * 100_000, content_type="x/y")
    with pytest.raises(BadAnswer, match=re.escape("not JSON")):
        call(odd_server.url, lambda c: c.summary())


def test_a_body_that_cannot_be_decoded_is_a_bad_answer(odd_server: OddServer) -> None:
    odd_server.raw(
        "/v1/fleet/summary",
        b"not gzip",
        content_type="application/json",
        header=("Content-Encoding", "gzip"),
    )
    with pytest.raises(
        BadAnswer, match=re.escape("/v1/fleet/summary answered something unreadable")
    ):
        call(odd_server.url, lambda c: c.summary())


def test_a_not_ready_daemon_is_an_answer_not_an_error(odd_server: OddServer) -> None:
    odd_server.json("/readyz", {"status": "not_ready", "reason": "shutting down"}, status=503)
    assert call(odd_server.url, lambda c: c.readiness()) == Readiness(False, "shutting down")


def test_ids_are_sent_as_one_path_segment(odd_server: OddServer) -> None:
    with pytest.raises(NotFound, match=re.escape("nope")):
        call(odd_server.url, lambda c: c.vehicle_status("a/b?c"))
    assert odd_server.paths[-1] == "/v1/status/vehicle/a%2Fb%3Fc"
