"""The daemon against its own OpenAPI document: every operation, with requests Schemathesis makes
from the document's schemas (valid ones and invalid ones), on a live daemon.

Hand-written API tests check what was thought of; this checks the promise the document makes
to everyone who reads it: no 5xx, every answer one the document describes (its status listed
for the operation, its body matching that status's schema, its headers too), invalid requests
refused and valid ones accepted. Runs are derandomised and bounded by a number of examples, not
by time. Schemathesis is synchronous, so it runs in a thread while the daemon serves from the
test's event loop.
"""

from __future__ import annotations

import collections
import dataclasses
import json
import re
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from importlib import resources
from typing import Any, Final

import httpx
import pytest
import requests
import schemathesis
import trio
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from schemathesis import APIOperation, Case, GenerationMode, SerializationContext
from schemathesis.checks import CheckFunction, not_a_server_error
from schemathesis.core.result import Err
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    negative_data_rejection,
    positive_data_acceptance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from daemon.config import Config
from daemon.ingest.routing import shard_of
from daemon.process.supervisor import run
from tests.conftest import IO_TIMEOUT_S
from tests.support import at, meter, vehicle
from tests.test_auth import ADMIN, TOKENS

JSON: Final = "application/json"
NDJSON: Final = "application/x-ndjson"
FUZZ: Final = settings(
    # The same requests on every run; no example database to write or replay from.
    derandomize=True,
    database=None,
    # Per operation and kind of request: about 350 requests a run, some 10 s here.
    max_examples=20,
    # Shared machines stall at random; what this judges is never time.
    deadline=None,
    # Generated requests are large by nature, and filtering them is Schemathesis's business.
    suppress_health_check=list(HealthCheck),
    # A failure is reported as found: shrinking it would cost many more requests.
    phases=[Phase.explicit, Phase.generate],
)
CHECKS: Final[list[CheckFunction]] = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
]
KNOWN: Final = {"vehicleId": "vehicle-001", "meterId": "meter-001"}
"""Devices the run finds stored and linked, so that reads answer 200 with bodies to check
against their schemas, not only 404."""


@schemathesis.serializer(NDJSON)
def ndjson_body(context: SerializationContext, value: Any) -> bytes:
    """NDJSON text as it is; anything else (what an invalid request holds) as one line."""
    return (value if isinstance(value, str) else json.dumps(value)).encode()


def with_fresh_timestamps(case: Case[Any]) -> Case[Any]:
    """The case with every reading's timestamp made now. The document can say only that a
    timestamp is a date-time, not that it must fall within the retention period, so generated
    ones are years away and every valid reading would be refused for its time alone."""
    body: Any = case.body
    if isinstance(body, dict) and "timestamp" in body:
        case.body = {**body, "timestamp": at()}
    elif isinstance(body, list) and all(isinstance(item, dict) for item in body):
        case.body = [{**item, "timestamp": at()} for item in body]
    return case


def as_ndjson(case: Case[Any]) -> Case[Any]:
    """The case's array of readings, sent as NDJSON: a line each."""
    case.media_type = NDJSON
    items: Any = case.body
    case.body = "".join(json.dumps(item) + "\n" for item in items)
    return case


def strategies(api: APIOperation[Any, Any, Any, Any]) -> list[st.SearchStrategy[Case[Any]]]:
    """Valid requests, as JSON and as NDJSON where the operation takes both, and invalid ones,
    if anything of the request can be made invalid; half of each to the devices the run knows.
    Schemathesis draws a body's media type itself, so valid ones are kept to JSON and made
    NDJSON here, since the document describes an NDJSON body only as a string."""
    known = {p.name: KNOWN[p.name] for p in api.path_parameters if p.name in KNOWN}

    def cases(mode: GenerationMode) -> st.SearchStrategy[Case[Any]]:
        made = api.as_strategy(generation_mode=mode)
        return (
            made | api.as_strategy(generation_mode=mode, path_parameters=known) if known else made
        )

    valid = cases(GenerationMode.POSITIVE)
    if api.body:
        valid = valid.filter(lambda case: case.media_type == JSON)
    found = [valid.map(with_fresh_timestamps)]
    if NDJSON in {body.media_type for body in api.body}:
        found.append(found[0].map(as_ndjson))
    if api.path_parameters or api.query or api.body:
        found.append(cases(GenerationMode.NEGATIVE))
    return found


def verdicts(case: Case[Any]) -> list[CheckFunction]:
    """Invalid requests must be refused; valid ones accepted, bar those with a made-up cursor:
    a cursor is opaque, valid only as a page handed it out, which no schema can say."""
    assert case.meta is not None
    if case.meta.generation.mode.is_negative:
        return [negative_data_rejection]
    return [] if "cursor" in (case.query or {}) else [positive_data_acceptance]


@dataclasses.dataclass
class Tally:
    statuses: collections.Counter[int] = dataclasses.field(default_factory=collections.Counter)

    @property
    def cases(self) -> int:
        return self.statuses.total()

    @property
    def server_errors(self) -> int:
        return sum(count for status, count in self.statuses.items() if status >= 500)


def fuzz(url: str, headers: dict[str, str]) -> Tally:
    """Every operation of the document ``url`` serves; raises on the first failed check."""
    schema = schemathesis.openapi.from_url(f"{url}/openapi.json", timeout=IO_TIMEOUT_S)
    tally = Tally()
    with requests.Session() as session:

        def send(case: Case[Any]) -> None:
            response = case.call(base_url=url, session=session, headers=headers)
            tally.statuses[response.status_code] += 1
            case.validate_response(response, checks=[*CHECKS, *verdicts(case)], headers=headers)

        for result in schema.get_all_operations():
            if isinstance(result, Err):
                raise result.err()
            for cases in strategies(result.ok()):
                FUZZ(given(cases)(send))()
    return tally


@asynccontextmanager
async def serving(config: Config) -> AsyncIterator[str]:
    async with trio.open_nursery() as nursery:
        running = await nursery.start(run, config)
        yield running.url
        running.stop.set()


async def seed(url: str, headers: dict[str, str]) -> None:
    async with httpx.AsyncClient(base_url=url, headers=headers, timeout=IO_TIMEOUT_S) as http:
        readings = [meter(KNOWN["meterId"]), vehicle(KNOWN["vehicleId"])]
        assert (await http.post("/v1/ingest/batch", json=readings)).status_code == 201
        assert (await http.put("/v1/links", json=KNOWN)).status_code == 200


@pytest.mark.parametrize(
    "tokens", [pytest.param(None, id="open"), pytest.param(TOKENS, id="with-tokens")]
)
async def test_every_operation_answers_as_documented(config: Config, tokens: str | None) -> None:
    # With tokens, the admin token: every operation then runs rather than stopping at 401.
    headers = {} if tokens is None else {"Authorization": f"Bearer {ADMIN}"}
    async with serving(dataclasses.replace(config, tokens=tokens)) as url:
        await seed(url, headers)
        tally = await trio.to_thread.run_sync(fuzz, url, headers)

    print(f"{tally.cases} requests, by status {dict(sorted(tally.statuses.items()))}")
    assert tally.server_errors == 0
    assert {200, 201, 204, 400, 404} <= set(tally.statuses)


# --- the document's own examples --------------------------------------------------------------

DOCUMENT: Final = json.loads(resources.files("daemon").joinpath("openapi.json").read_bytes())
SCHEMA: Final = schemathesis.openapi.from_dict(DOCUMENT)
TIMESTAMP_VALUE: Final = re.compile(r'("timestamp"\s*:\s*")([^"]*)"')


def request_examples() -> Iterator[Any]:
    """Every request body the document shows, as a test's parameters."""
    for path, item in DOCUMENT["paths"].items():
        for method, operation in item.items():
            if method == "parameters":
                continue
            for media_type, content in operation.get("requestBody", {}).get("content", {}).items():
                shown = {"example": content["example"]} if "example" in content else {}
                shown |= {
                    name: example["value"] for name, example in content.get("examples", {}).items()
                }
                for name, body in shown.items():
                    label = f"{method.upper()} {path} {media_type} {name}"
                    yield pytest.param(path, method, media_type, body, id=label)


def dated_yesterday(text: str) -> str:
    """``text`` with every timestamp moved by whole days to yesterday (in UTC), its time of
    day, fraction and offset kept as written: a time the daemon takes whatever the clock
    says, so that every other character of the example is what it judges. Yesterday's
    partition is made at start, which keeps this clear of the race below."""
    yesterday = datetime.now(UTC).date() - timedelta(days=1)

    def moved(match: re.Match[str]) -> str:
        written = datetime.fromisoformat(match[2])
        shift = timedelta(days=(yesterday - written.astimezone(UTC).date()).days)
        date = (written + shift).date().isoformat()
        return f'{match[1]}{date}{match[2][len(date) :]}"'

    return TIMESTAMP_VALUE.sub(moved, text)


@pytest.mark.parametrize(("path", "method", "media_type", "body"), list(request_examples()))
async def test_every_request_example_is_accepted_once_dated_yesterday(
    client: httpx.AsyncClient, path: str, method: str, media_type: str, body: Any
) -> None:
    text = dated_yesterday(body if media_type == NDJSON else json.dumps(body))
    sent = text if media_type == NDJSON else json.loads(text)
    success = min(status for status in DOCUMENT["paths"][path][method]["responses"] if status < "3")

    response = await client.request(
        method, path, content=text.encode(), headers={"Content-Type": media_type}
    )

    assert response.status_code == int(success), response.text
    case = SCHEMA[path][method.upper()].Case(body=sent, media_type=media_type)
    case.validate_response(response, checks=CHECKS)


def test_the_document_shows_a_request_of_every_kind() -> None:
    shown = {(param.values[0], param.values[2]) for param in request_examples()}

    assert shown == {
        ("/v1/ingest", JSON),
        ("/v1/ingest/batch", JSON),
        ("/v1/ingest/batch", NDJSON),
        ("/v1/links", JSON),
    }


async def test_a_late_batch_for_a_day_without_a_partition_is_stored(config: Config) -> None:
    """Found by the examples above when they were dated two days ago. The daemon makes the
    partitions from yesterday on at start and a late reading's on demand; here the meter's and
    the vehicle's readings go to different shard writers, which both make that day's
    partitions for every table at the same moment."""
    assert shard_of(KNOWN["meterId"], config.shards) != shard_of(KNOWN["vehicleId"], config.shards)
    ts = at(hours_ago=48)
    readings = [meter(KNOWN["meterId"], ts=ts), vehicle(KNOWN["vehicleId"], ts=ts)]

    async with serving(config) as url, httpx.AsyncClient(base_url=url) as http:
        response = await http.post("/v1/ingest/batch", json=readings)
        assert response.status_code == 201, response.text
        assert (await http.get("/readyz")).status_code == 200
