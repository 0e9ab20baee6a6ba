"""Clients that hold connections without using them, or send slower than they promised: they are
let go after a timeout, and normal clients are served meanwhile.

Raw sockets, since an HTTP client library would not misbehave on purpose. The daemon runs with
short timeouts (half a second) so that the tests wait little; nothing here is timed: a test
waits for the daemon to close a connection, under the suite's deadline.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import AsyncIterator

import httpx
import pytest
import trio

from daemon.config import Config
from daemon.supervisor import run
from tests import daemon_process
from tests.conftest import IO_TIMEOUT_S, Postgres
from tests.support import meter

TIMEOUT_S = 0.5
LINK = json.dumps({"vehicleId": "v-1", "meterId": "m-1"}).encode()


@pytest.fixture
async def url(config: Config) -> AsyncIterator[str]:
    quick = dataclasses.replace(config, keep_alive_s=TIMEOUT_S, body_timeout_s=TIMEOUT_S)
    async with trio.open_nursery() as nursery:
        running = await nursery.start(run, quick)
        yield running.url
        running.stop.set()


async def _connect(url: str) -> trio.SocketStream:
    host, port = url.removeprefix("http://").split(":")
    return await trio.open_tcp_stream(host, int(port))


async def _until_closed(stream: trio.SocketStream) -> bytes:
    """Everything the daemon sends until it closes the connection. A reset is a close too:
    the kernel sends one in place of the close when the daemon lets go of a connection whose
    client had sent more than the daemon read (a slow client's trickle)."""
    received = b""
    try:
        while chunk := await stream.receive_some():
            received += chunk
    except trio.BrokenResourceError:
        pass
    await stream.aclose()
    return received


def _request(method: str, path: str, body: bytes = b"", *headers: str) -> bytes:
    lines = [f"{method} {path} HTTP/1.1", "Host: ingestd", *headers]
    if body:
        lines += ["Content-Type: application/json", f"Content-Length: {len(body)}"]
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


def _statuses(received: bytes) -> list[int]:
    return [int(line.split()[1]) for line in received.split(b"\r\n") if line.startswith(b"HTTP/")]


@pytest.mark.parametrize(
    ("request_bytes", "answers"),
    [
        pytest.param(b"", [], id="never-asks"),
        pytest.param(_request("GET", "/healthz"), [200], id="after-a-quart-answer"),
        pytest.param(_request("GET", "/v1/status/vehicle/v-0"), [404], id="after-a-404"),
        pytest.param(
            _request("POST", "/v1/ingest", json.dumps(meter()).encode()),
            [201],
            id="after-an-ingest",
        ),
        pytest.param(b"GET /healthz HTTP/1.1\r\nHost: ingestd\r\n", [], id="headers-never-end"),
    ],
)
async def test_an_idle_connection_is_closed_after_the_keep_alive_timeout(
    url: str, request_bytes: bytes, answers: list[int]
) -> None:
    """Once only the connection's first wait was timed: after one answer from the Quart app
    it stayed open for good, and 2,000 idle clients held 2,000 descriptors."""
    stream = await _connect(url)
    await stream.send_all(request_bytes)

    received = await _until_closed(stream)

    assert _statuses(received) == answers


async def test_connection_close_is_honoured(url: str) -> None:
    stream = await _connect(url)
    await stream.send_all(_request("GET", "/healthz", b"", "Connection: close"))

    received = await _until_closed(stream)

    assert _statuses(received) == [200]
    assert b"connection: close" in received.lower()


@pytest.mark.parametrize(
    "call",
    [
        pytest.param(("POST", "/v1/ingest", json.dumps(meter()).encode()), id="ingest"),
        pytest.param(("POST", "/v1/ingest/batch", json.dumps([meter()]).encode()), id="batch"),
        pytest.param(("PUT", "/v1/links", LINK), id="link"),
    ],
)
async def test_a_body_short_of_its_length_gets_408_and_stores_nothing(
    url: str, postgres: Postgres, database: str, call: tuple[str, str, bytes]
) -> None:
    """Once such a request hung for good (the body was awaited without a deadline)."""
    method, path, body = call
    stream = await _connect(url)
    head = _request(method, path, body).replace(
        f"Content-Length: {len(body)}".encode(), f"Content-Length: {len(body) + 100}".encode()
    )
    await stream.send_all(head)

    received = await _until_closed(stream)

    assert _statuses(received) == [408]
    assert b"did not arrive within 0.5 s" in received
    rows = await postgres.aquery(
        database,
        "SELECT (SELECT count(*) FROM meter_readings) + (SELECT count(*) FROM vehicle_meter_links)",
    )
    assert rows == [["0"]]


async def test_a_chunked_body_is_refused_as_soon_as_it_passes_the_limit(url: str) -> None:
    """No Content-Length to refuse it by: the limit is counted while the body arrives, and the
    answer comes before the client has sent all it meant to."""
    stream = await _connect(url)
    head = (
        b"POST /v1/ingest HTTP/1.1\r\nHost: ingestd\r\nContent-Type: application/json\r\n"
        b"Transfer-Encoding: chunked\r\n\r\n"
    )
    await stream.send_all(head)
    chunk = b"x" * 16 * 1024
    answered = b""
    with trio.move_on_after(IO_TIMEOUT_S):
        for _ in range(64):  # four times the single-reading limit, unless answered first
            await stream.send_all(b"%x\r\n%s\r\n" % (len(chunk), chunk))
            with trio.move_on_after(0.05):
                answered += await stream.receive_some()
            if answered:
                break
    answered += await _until_closed(stream)

    assert _statuses(answered) == [413]


async def test_normal_clients_are_served_while_idle_and_slow_ones_hold_connections(
    url: str,
) -> None:
    """500 idle connections and 50 that trickle their headers a byte at a time: a normal client
    is answered throughout, and every one of them is let go by the daemon."""
    idle = [await _connect(url) for _ in range(500)]
    slow = [await _connect(url) for _ in range(50)]
    answered = 0

    async def trickle(stream: trio.SocketStream) -> None:
        for byte in b"GET /healthz HTTP/1.1\r\nHost: ingestd\r\n":
            try:
                await stream.send_all(bytes([byte]))
            except (trio.BrokenResourceError, trio.ClosedResourceError):
                return  # let go by the daemon, as it should
            await trio.sleep(TIMEOUT_S / 4)

    async with trio.open_nursery() as nursery:
        for stream in slow:
            nursery.start_soon(trickle, stream)
        async with httpx.AsyncClient(base_url=url, timeout=IO_TIMEOUT_S) as http:
            for _ in range(20):
                response = await http.post("/v1/ingest", json=meter(f"m-{answered}"))
                assert response.status_code == 201
                answered += 1
        for stream in idle + slow:
            assert await _until_closed(stream) == b""

    assert answered == 20


async def test_out_of_descriptors_is_one_sentence_and_passes_when_idle_clients_go(
    postgres: Postgres,
) -> None:
    """A daemon allowed 200 open files, and 300 idle clients: accepting fails for want of
    descriptors (once a traceback ten times a second), until the idle ones are let go."""
    env = {"DATABASE_URL": postgres.url(postgres.create_database()), "INGEST_KEEP_ALIVE_S": "1"}
    async with daemon_process.running(env, "--workers", "1", open_files=200) as (process, url):
        idle = [await _connect(url) for _ in range(300)]
        for stream in idle:
            assert await _until_closed(stream) == b""
        async with httpx.AsyncClient(base_url=url, timeout=IO_TIMEOUT_S) as http:
            assert (await http.get("/healthz")).status_code == 200
        logs = await daemon_process.stop(process)
    refusals = [line for line in logs if line["logger"] == "trio.serve_listeners"]
    assert refusals, "the daemon never ran out of descriptors: the test proves nothing"
    assert all("exc" not in line for line in refusals)
    assert "Too many open files" in str(refusals[0]["msg"])
    assert "ulimit -n" in str(refusals[0]["msg"])
    assert len(refusals) <= 2


async def test_a_body_longer_than_its_content_length_is_read_to_its_length_only(
    url: str, postgres: Postgres, database: str
) -> None:
    """A lying Content-Length cannot smuggle more than it declares: the body is the declared
    bytes (here not JSON: 400), and what follows is read as a next request, which is no HTTP
    (refused, and the connection closed). Nothing is stored."""
    reading = json.dumps(meter()).encode()
    stream = await _connect(url)
    head = _request("POST", "/v1/ingest", reading).replace(
        f"Content-Length: {len(reading)}".encode(), b"Content-Length: 10"
    )
    await stream.send_all(head + b"x" * 70_000)

    received = await _until_closed(stream)

    assert _statuses(received) in ([400], [400, 400]), received
    rows = await postgres.aquery(database, "SELECT count(*) FROM meter_readings")
    assert rows == [["0"]]
