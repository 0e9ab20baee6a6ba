"""Clients that hold connections without using them, or send slower than they promised: they are
let go after a timeout, and normal clients are served meanwhile.

Raw sockets, since an HTTP client library would not misbehave on purpose. The daemon runs with
short timeouts (half a second) so that the tests wait little; nothing here is timed: a test
waits for the daemon to close a connection, under the suite's deadline.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
import trio

from daemon.config import Config
from daemon.process.supervisor import run
from tests import daemon_process
from tests.conftest import IO_TIMEOUT_S, Postgres
from tests.support import meter

TIMEOUT_S = 0.5
# The state column of /proc/net/tcp for an established connection.
ESTABLISHED = "01"
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


def _held(pid: int, port: int) -> int:
    """Connections to ``port`` that process ``pid`` has accepted: established sockets among its
    descriptors. Those waiting in the listen backlog are the kernel's, in no process yet."""
    inodes = set()
    for descriptor in Path(f"/proc/{pid}/fd").iterdir():
        with contextlib.suppress(FileNotFoundError):
            target = os.readlink(descriptor)
            if target.startswith("socket:["):
                inodes.add(target.removeprefix("socket:[").removesuffix("]"))
    held = 0
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            fields = line.split()
            local_port = int(fields[1].rsplit(":", 1)[1], 16)
            held += local_port == port and fields[3] == ESTABLISHED and fields[9] in inodes
    return held


async def _held_most_until_closed(pid: int, port: int, clients: list[trio.SocketStream]) -> int:
    """The most connections the daemon held at once while it let ``clients`` go, each after
    the keep-alive timeout."""
    most = 0
    async with trio.open_nursery() as nursery:
        for stream in clients:
            nursery.start_soon(_until_closed, stream)
        while len(nursery.child_tasks) > 0:
            most = max(most, _held(pid, port))
            await trio.sleep(0.05)
    return most


@pytest.mark.skipif(not Path("/proc/net/tcp").exists(), reason="reads Linux's /proc")
async def test_past_the_connection_limit_clients_wait_in_the_backlog(postgres: Postgres) -> None:
    """A worker allowed 40 connections, and 100 idle clients: it holds 40 at most, says so in
    one line, and lets each go after the keep-alive timeout while the rest wait in the listen
    backlog; then a normal client is served."""
    env = {
        "DATABASE_URL": postgres.url(postgres.create_database()),
        "INGEST_KEEP_ALIVE_S": "1",
        "INGEST_MAX_CONNECTIONS": "40",
    }
    async with daemon_process.running(env, "--workers", "1") as (process, url):
        port = int(url.rsplit(":", 1)[1])
        idle = [await _connect(url) for _ in range(100)]
        assert await _held_most_until_closed(process.pid, port, idle) == 40
        async with httpx.AsyncClient(base_url=url, timeout=IO_TIMEOUT_S) as http:
            assert (await http.get("/healthz")).status_code == 200
        logs = await daemon_process.stop(process)
    full = [line for line in logs if "the most allowed" in str(line["msg"])]
    assert len(full) == 1, full
    assert "INGEST_MAX_CONNECTIONS" in str(full[0]["msg"])


async def test_the_connection_limit_fits_the_limit_on_open_files(postgres: Postgres) -> None:
    """A daemon allowed 200 open files, facing 300 idle clients: it lowers its connection limit
    to what the descriptors allow (saying so at start), so accepting never fails for want of
    one (once a traceback ten times a second), and every client is let go in turn."""
    env = {"DATABASE_URL": postgres.url(postgres.create_database()), "INGEST_KEEP_ALIVE_S": "1"}
    async with daemon_process.running(env, "--workers", "1", open_files=200) as (process, url):
        idle = [await _connect(url) for _ in range(300)]
        for stream in idle:
            assert await _until_closed(stream) == b""
        async with httpx.AsyncClient(base_url=url, timeout=IO_TIMEOUT_S) as http:
            assert (await http.get("/healthz")).status_code == 200
        logs = await daemon_process.stop(process)
    lowered = [line for line in logs if "the limit on open files is 200" in str(line["msg"])]
    assert len(lowered) == 1, lowered
    assert str(lowered[0]["msg"]).startswith("at most ")
    assert not [line for line in logs if line["logger"] == "trio.serve_listeners"]


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


async def test_clients_leaving_mid_body_while_refused_cost_only_their_connections(
    config: Config,
) -> None:
    """A client that sends a body's headers and leaves while the daemon refuses it (here a 403
    before the body is read): Hypercorn's answer to the missing body can collide with the
    refusal being sent and raise out of the connection, which once stopped the daemon."""
    token = "i" * 20
    secured = dataclasses.replace(config, tokens=f"ingest:{token}")
    head = _request("PUT", "/v1/links", LINK, f"Authorization: Bearer {token}")
    head = head.removesuffix(LINK)

    async def leave(url: str) -> None:
        stream = await _connect(url)
        await stream.send_all(head)
        await stream.send_eof()
        await _until_closed(stream)

    async with trio.open_nursery() as nursery:
        running = await nursery.start(run, secured)
        for _ in range(10):
            async with trio.open_nursery() as clients:
                for _ in range(50):
                    clients.start_soon(leave, running.url)
        async with httpx.AsyncClient(base_url=running.url, timeout=IO_TIMEOUT_S) as http:
            assert (await http.get("/healthz")).status_code == 200
        running.stop.set()


# --- HTTP/2 in clear: not served, so never an idle connection held for good -----------------

H2_PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"
H2_SETTINGS = b"\x00\x00\x00\x04\x00\x00\x00\x00\x00"  # an empty SETTINGS frame


async def test_an_http2_client_with_prior_knowledge_is_let_go(url: str) -> None:
    """The preface and a SETTINGS frame, then nothing: once the connection stayed open for good
    (Hypercorn's idle timer stops at the preface), and 4,600 of them filled every slot."""
    stream = await _connect(url)
    await stream.send_all(H2_PREFACE + H2_SETTINGS)

    with trio.fail_after(IO_TIMEOUT_S):
        received = await _until_closed(stream)

    assert not received.startswith(b"\x00"), "no HTTP/2 frame comes back"


async def test_an_upgrade_to_http2_is_declined_and_answered_in_http11(url: str) -> None:
    stream = await _connect(url)
    await stream.send_all(
        _request(
            "GET",
            "/healthz",
            b"",
            "Connection: Upgrade, HTTP2-Settings",
            "Upgrade: h2c",
            "HTTP2-Settings: AAMAAABkAAQAoAAAAAIAAAAA",
        )
    )

    with trio.fail_after(IO_TIMEOUT_S):
        received = await _until_closed(stream)

    assert _statuses(received) == [200]
    assert received.endswith(b'{"status": "ok"}')


async def test_a_flood_of_idle_http2_connections_holds_no_one_up(postgres: Postgres) -> None:
    """A worker allowed 40 connections and 100 clients that open HTTP/2 and fall silent: each
    is let go after the keep-alive timeout, and a normal client is served."""
    env = {
        "DATABASE_URL": postgres.url(postgres.create_database()),
        "INGEST_KEEP_ALIVE_S": "1",
        "INGEST_MAX_CONNECTIONS": "40",
    }
    async with daemon_process.running(env, "--workers", "1") as (process, url):
        idle = [await _connect(url) for _ in range(100)]
        for stream in idle:
            await stream.send_all(H2_PREFACE + H2_SETTINGS)
        async with httpx.AsyncClient(base_url=url, timeout=IO_TIMEOUT_S) as http:
            assert (await http.get("/healthz")).status_code == 200
        with trio.fail_after(IO_TIMEOUT_S):
            for stream in idle:
                await _until_closed(stream)
        await daemon_process.stop(process)


# --- errors that HTTP itself raises, in the contract's shape ----------------------------------


def _error_of(received: bytes) -> tuple[int, dict[str, object]]:
    head, _, body = received.partition(b"\r\n\r\n")
    assert b"content-type: application/json" in head.lower(), head
    error: dict[str, object] = json.loads(body)
    return _statuses(head)[0], error


@pytest.mark.parametrize(
    ("request_bytes", "status"),
    [
        pytest.param(_request("GET", "/v1/status/meter/" + "m" * 100_000), 431, id="long-path"),
        pytest.param(
            b"POST /v1/ingest HTTP/1.1\r\nHost: ingestd\r\nContent-Length: -1\r\n\r\n",
            400,
            id="negative-length",
        ),
        pytest.param(b"GET /healthz HTTP/1.1\r\nHost ingestd\r\n\r\n", 400, id="no-colon"),
    ],
)
async def test_a_request_http_cannot_read_gets_the_contract_error(
    url: str, request_bytes: bytes, status: int
) -> None:
    stream = await _connect(url)
    await stream.send_all(request_bytes)

    with trio.fail_after(IO_TIMEOUT_S):
        received = await _until_closed(stream)

    code, error = _error_of(received)
    assert code == status
    assert error["statusCode"] == status
    assert isinstance(error["message"], str)
    assert error["message"].endswith(".")


async def test_a_doubled_slash_is_a_404_in_the_contract_not_a_redirect(url: str) -> None:
    stream = await _connect(url)
    await stream.send_all(_request("GET", "/v1//links/x", b"", "Connection: close"))

    with trio.fail_after(IO_TIMEOUT_S):
        received = await _until_closed(stream)

    code, error = _error_of(received)
    assert (code, error["statusCode"]) == (404, 404)
