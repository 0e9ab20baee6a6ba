"""Authentication (API.md, Conventions): bearer tokens with the roles ingest, read and admin.

The rules as functions, the configuration that turns them on, and a real daemon that applies
them: who gets 401 and 403, what stays open, and that a refused call stored nothing.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import httpx
import pytest
import trio

from daemon.auth import Keyring, allows, bearer, describe, parse_tokens, required_role
from daemon.config import Config, load
from daemon.errors import ConfigError
from daemon.process.supervisor import run
from tests.conftest import IO_TIMEOUT_S, Postgres
from tests.support import assert_error, meter, vehicle
from tests.test_metrics import scrape, total

INGEST = "ingest-0123456789abcdef"
READ = "read-0123456789abcdef"
ADMIN = "admin-0123456789abcdef"
TOKENS = f"ingest:{INGEST}, read:{READ}\nadmin:{ADMIN}"

# --- the rules ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "role"),
    [
        ("/healthz", None),
        ("/readyz", None),
        ("/openapi.json", None),
        ("/v1/ingest", "ingest"),
        ("/v1/ingest/batch", "ingest"),
        ("/v1/links", "admin"),
        ("/v1/links/v-1", "admin"),
        ("/v1/status/vehicle/v-1", "read"),
        ("/v1/status/meter/m-1", "read"),
        ("/v1/analytics/performance/v-1", "read"),
        ("/v1/analytics/performance/v-1/hourly", "read"),
        ("/v1/fleet/summary", "read"),
        ("/v1/fleet/vehicles", "read"),
        ("/metrics", "read"),
        ("/v1/ingestion", "any"),
        ("/metrics-please", "any"),
        ("/", "any"),
        ("/healthz/", "any"),
    ],
)
def test_every_path_needs_its_role(path: str, role: str | None) -> None:
    assert required_role(path) == role


@pytest.mark.parametrize(
    ("role", "required", "allowed"),
    [
        ("admin", "ingest", True),
        ("admin", "read", True),
        ("admin", "admin", True),
        ("ingest", "ingest", True),
        ("ingest", "read", False),
        ("ingest", "admin", False),
        ("read", "read", True),
        ("read", "ingest", False),
        ("read", "admin", False),
        ("read", "any", True),
        ("ingest", "any", True),
    ],
)
def test_roles(role: str, required: str, allowed: bool) -> None:
    assert allows(role, required) is allowed


def test_tokens_parse_from_commas_spaces_lines_and_comments() -> None:
    text = f"# operators\ningest:{INGEST},read:{READ}  # the dashboards\n\n  admin:{ADMIN}\n"
    assert parse_tokens(text) == {INGEST: "ingest", READ: "read", ADMIN: "admin"}
    assert parse_tokens("") == {}


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        pytest.param(f"writer:{INGEST}", "entry 1: expected role:token", id="unknown-role"),
        pytest.param(INGEST, "entry 1: expected role:token", id="no-role"),
        pytest.param(f"read:{READ},admin:short", "entry 2: a token is at least 16", id="short"),
        pytest.param(f"read:{READ}\u00e9", "entry 1: a token is at least 16", id="not-ascii"),
        pytest.param(f"read:{READ} admin:{READ}", "entry 2: the same token", id="two-roles"),
    ],
)
def test_bad_tokens_are_refused_without_showing_them(text: str, expected: str) -> None:
    with pytest.raises(ValueError, match=expected) as caught:
        parse_tokens(text)
    assert READ not in str(caught.value)
    assert INGEST not in str(caught.value)


def test_the_same_token_twice_with_one_role_is_one_token() -> None:
    assert parse_tokens(f"read:{READ} read:{READ}") == {READ: "read"}


@pytest.mark.parametrize(
    ("header", "token"),
    [
        (f"Bearer {READ}".encode(), READ),
        (f"bearer   {READ} ".encode(), READ),
        (f"BEARER {READ}".encode(), READ),
        (f"Basic {READ}".encode(), None),
        (b"Bearer", None),
        (b"Bearer ", None),
        (b"", None),
        (None, None),
    ],
)
def test_bearer_header(header: bytes | None, token: str | None) -> None:
    assert bearer(header) == token


def test_the_keyring_knows_roles_by_digest_only() -> None:
    keyring = Keyring.of(parse_tokens(TOKENS))

    assert keyring.role_of(READ) == "read"
    assert keyring.role_of(ADMIN) == "admin"
    assert keyring.role_of(READ + "x") is None
    assert keyring.role_of("") is None
    assert READ not in repr(keyring)


def test_describe_counts_roles_and_never_shows_a_token() -> None:
    tokens = parse_tokens(f"{TOKENS} read:{READ}-second")
    assert describe(tokens) == "1 ingest, 2 read, 1 admin"
    assert describe({}) == "none"


# --- configuration -----------------------------------------------------------------------


def test_tokens_from_the_variable_are_redacted_in_the_start_up_summary() -> None:
    config = load({"INGEST_TOKENS": TOKENS})

    described = config.describe()

    assert config.token_roles == {INGEST: "ingest", READ: "read", ADMIN: "admin"}
    assert described["tokens"] == "1 ingest, 1 read, 1 admin"
    assert described["authentication"] == "bearer tokens"
    for token in (INGEST, READ, ADMIN):
        assert token not in str(described)
        assert token not in repr(config)


def test_a_bad_token_in_the_variable_exits_naming_it_not_showing_it() -> None:
    with pytest.raises(ConfigError, match="INGEST_TOKENS: entry 2") as caught:
        load({"INGEST_TOKENS": f"read:{READ},nobody:{ADMIN}"})
    assert ADMIN not in str(caught.value)
    assert READ not in str(caught.value)


def test_the_file_and_the_variable_add_up(tmp_path: Path) -> None:
    path = tmp_path / "tokens"
    path.write_text(f"# the gateways\ningest:{INGEST}\nadmin:{ADMIN}\n")

    config = load({"INGEST_TOKENS_FILE": str(path)}, ["--tokens", f"read:{READ}"])

    assert config.token_roles == {INGEST: "ingest", ADMIN: "admin", READ: "read"}
    assert config.tokens_file == path


def test_a_bad_file_names_itself_and_the_entry(tmp_path: Path) -> None:
    path = tmp_path / "tokens"
    path.write_text(f"ingest:{INGEST}\nread:tooshort\n")

    with pytest.raises(ConfigError, match=r"INGEST_TOKENS_FILE: .*tokens: entry 2") as caught:
        load({"INGEST_TOKENS_FILE": str(path)})
    assert "tooshort" not in str(caught.value)


def test_an_unreadable_file_names_itself(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"INGEST_TOKENS_FILE: cannot read .*missing"):
        load({"INGEST_TOKENS_FILE": str(tmp_path / "missing")})


@pytest.mark.parametrize("host", ["0.0.0.0", "::", "192.0.2.7", "ingest.example"])
def test_beyond_loopback_without_tokens_is_refused(host: str) -> None:
    with pytest.raises(ConfigError, match=r"no tokens are set.*INGEST_INSECURE=true"):
        load({"INGEST_HOST": host})


@pytest.mark.parametrize(
    "environ",
    [
        pytest.param({"INGEST_TOKENS": f"read:{READ}"}, id="tokens"),
        pytest.param({"INGEST_INSECURE": "true"}, id="insecure"),
    ],
)
def test_beyond_loopback_needs_tokens_or_the_insecure_switch(environ: dict[str, str]) -> None:
    config = load({"INGEST_HOST": "0.0.0.0", **environ})

    expected = "bearer tokens" if "INGEST_TOKENS" in environ else "OFF, and listening beyond"
    assert str(config.describe()["authentication"]).startswith(expected)


@pytest.mark.parametrize("host", ["127.0.0.1", "127.0.0.5", "::1", "localhost"])
def test_loopback_needs_no_tokens(host: str) -> None:
    config = load({"INGEST_HOST": host})

    assert config.describe()["authentication"] == "off: loopback only"
    assert config.warnings() == []


def test_running_open_beyond_loopback_is_said_at_start() -> None:
    open_config = load({"INGEST_HOST": "0.0.0.0", "INGEST_INSECURE": "true"})
    secured = load({"INGEST_HOST": "0.0.0.0", "INGEST_TOKENS": f"read:{READ}"})

    (warning,) = open_config.warnings()
    assert "authentication is off" in warning
    assert "0.0.0.0" in warning
    assert secured.warnings() == []


# --- a daemon with tokens ----------------------------------------------------------------


@asynccontextmanager
async def _secured(config: Config) -> AsyncIterator[str]:
    async with trio.open_nursery() as nursery:
        running = await nursery.start(run, dataclasses.replace(config, tokens=TOKENS))
        yield running.url
        running.stop.set()


@pytest.fixture
async def secured(config: Config) -> AsyncIterator[str]:
    async with _secured(config) as url:
        yield url


def _as(url: str, token: str | None) -> httpx.AsyncClient:
    headers = {} if token is None else {"Authorization": f"Bearer {token}"}
    return httpx.AsyncClient(base_url=url, headers=headers, timeout=IO_TIMEOUT_S)


async def _stored(postgres: Postgres, database: str) -> int:
    rows = await postgres.aquery(
        database,
        "SELECT (SELECT count(*) FROM meter_readings) + (SELECT count(*) FROM vehicle_meter_links)",
    )
    return int(rows[0][0])


async def test_strangers_get_401_and_store_nothing(
    secured: str, postgres: Postgres, database: str
) -> None:
    for token in (None, "not-a-token-of-this-daemon", INGEST + "x"):
        async with _as(secured, token) as http:
            for response in (
                await http.post("/v1/ingest", json=meter()),
                await http.post("/v1/ingest/batch", json=[meter()]),
                await http.put("/v1/links", json={"vehicleId": "v-1", "meterId": "m-1"}),
                await http.get("/v1/status/meter/meter-001"),
                await http.get("/v1/fleet/summary"),
                await http.get("/metrics"),
                await http.get("/no/such/path"),
            ):
                body = assert_error(response, 401)
                assert response.headers["www-authenticate"].startswith("Bearer")
                assert ("invalid_token" in response.headers["www-authenticate"]) is bool(token)
                assert "Authorization: Bearer" in body["message"] or token
    assert await _stored(postgres, database) == 0


async def test_probes_and_the_description_stay_open(secured: str) -> None:
    async with _as(secured, None) as http:
        assert (await http.get("/healthz")).status_code == 200
        assert (await http.get("/readyz")).status_code == 200
        assert (await http.get("/openapi.json")).json()["openapi"].startswith("3.")


async def test_each_role_does_its_calls(secured: str) -> None:
    async with _as(secured, INGEST) as http:
        assert (await http.post("/v1/ingest", json=vehicle("v-1"))).status_code == 201
        batch = await http.post("/v1/ingest/batch", json=[meter("m-1"), vehicle("v-2")])
        assert batch.status_code == 201
    async with _as(secured, ADMIN) as http:
        link = {"vehicleId": "v-1", "meterId": "m-1"}
        assert (await http.put("/v1/links", json=link)).status_code == 200
        assert (await http.get("/v1/links/v-1")).json()["meterId"] == "m-1"
    async with _as(secured, READ) as http:
        assert (await http.get("/v1/status/vehicle/v-1")).json()["vehicle_id"] == "v-1"
        assert (await http.get("/v1/analytics/performance/v-1")).status_code == 200
        assert (await http.get("/v1/analytics/performance/v-1/hourly")).status_code == 200
        assert (await http.get("/v1/fleet/summary")).json()["vehicles"]["total"] == 2
        assert (await http.get("/v1/fleet/vehicles")).status_code == 200
        assert (await http.get("/metrics")).status_code == 200
        assert_error(await http.get("/no/such/path"), 404)
    async with _as(secured, ADMIN) as http:
        assert (await http.post("/v1/ingest", json=meter("m-2"))).status_code == 201
        assert (await http.get("/v1/fleet/meters")).status_code == 200
        assert (await http.delete("/v1/links/v-1")).status_code == 204


@pytest.mark.parametrize(
    "call",
    [
        (READ, "POST", "/v1/ingest"),
        (READ, "POST", "/v1/ingest/batch"),
        (READ, "PUT", "/v1/links"),
        (READ, "DELETE", "/v1/links/v-1"),
        (INGEST, "GET", "/v1/links/v-1"),
        (INGEST, "PUT", "/v1/links"),
        (INGEST, "GET", "/v1/status/vehicle/v-1"),
        (INGEST, "GET", "/v1/fleet/vehicles"),
        (INGEST, "GET", "/metrics"),
    ],
)
async def test_a_role_beyond_its_calls_gets_403_and_stores_nothing(
    secured: str, postgres: Postgres, database: str, call: tuple[str, str, str]
) -> None:
    token, method, path = call
    async with _as(secured, token) as http:
        body = {"vehicleId": "v-1", "meterId": "m-1"} if path == "/v1/links" else meter()
        response = await http.request(method, path, json=None if method in "GETDELETE" else body)
    message = assert_error(response, 403)["message"]
    assert path in message
    assert "insufficient_scope" in response.headers["www-authenticate"]
    assert await _stored(postgres, database) == 0


async def test_refusals_are_counted_and_no_token_is_logged(
    config: Config, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    async with _secured(config) as url:
        async with _as(url, READ + "-wrong") as http:
            assert_error(await http.get("/v1/fleet/summary"), 401)
        async with _as(url, READ) as http:
            assert_error(await http.post("/v1/ingest", json=meter()), 403)
            families = await scrape(http)
    for route, method, status in (
        ("/v1/fleet/summary", "GET", "401"),
        ("/v1/ingest", "POST", "403"),
    ):
        counted = total(
            families, "ingest_http_requests_total", route=route, method=method, status=status
        )
        assert counted == 1, (route, status)
    served = [r for r in caplog.records if r.name.startswith("daemon")]
    assert any(r.getMessage() == "starting" for r in served)
    assert READ not in "\n".join(f"{r.getMessage()} {r.__dict__}" for r in served)
