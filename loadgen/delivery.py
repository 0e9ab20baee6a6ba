"""Delivering one request the way the engine asks to be treated.

A 503 is retried after its Retry-After with the same body (duplicates replace, so this is
always safe); a transport error is retried a few times with backoff; anything else is final.
The decision is a pure function of what came back, so it is tested without a network.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

import httpx
import trio

from loadgen.plan import Request

MAX_TRANSPORT_RETRIES = 5
TRANSPORT_BACKOFF_S = 0.5


class Outcome(Enum):
    EXPECTED = "expected"
    """The answer the request called for: 201 for data, 400 for an injected fault."""
    UNEXPECTED = "unexpected"
    """A final answer other than that: counted, shown, and the run fails verification."""
    UNCERTAIN = "uncertain"
    """Gave up without a final answer: the engine may or may not have stored it."""


@dataclass(frozen=True, slots=True)
class Retry:
    after_s: float


@dataclass(frozen=True, slots=True)
class Final:
    outcome: Outcome


def decide(
    status: int | None,
    retry_after: str | None,
    expect: int,
    *,
    transport_attempts: int,
    waited_s: float,
    give_up_s: float,
) -> Retry | Final:
    """What to do after an attempt: ``status`` None means the connection failed."""
    if status is None:
        if transport_attempts > MAX_TRANSPORT_RETRIES:
            return Final(Outcome.UNCERTAIN)
        return Retry(TRANSPORT_BACKOFF_S * 2 ** (transport_attempts - 1))
    if status == 503:
        delay = _retry_after_s(retry_after)
        if waited_s + delay > give_up_s:
            return Final(Outcome.UNCERTAIN)
        return Retry(delay)
    return Final(Outcome.EXPECTED if status == expect else Outcome.UNEXPECTED)


def _retry_after_s(header: str | None) -> float:
    """Whole seconds, as API.md promises; a missing or odd header means one second."""
    if header is not None and header.strip().isdigit():
        return float(header.strip())
    return 1.0


@dataclass(frozen=True, slots=True)
class Delivered:
    outcome: Outcome
    status: int | None
    retries: int
    transport_errors: int
    retried_statuses: tuple[int, ...]


async def deliver(http: httpx.AsyncClient, request: Request, *, give_up_s: float) -> Delivered:
    path = "/v1/ingest/batch" if request.batch else "/v1/ingest"
    headers = {"Content-Type": "application/json"}
    retries = transport_errors = 0
    waited_s = 0.0
    retried: list[int] = []
    while True:
        status: int | None
        retry_after: str | None = None
        try:
            response = await http.post(path, content=request.body, headers=headers)
        except httpx.TransportError:
            transport_errors += 1
            status = None
        else:
            status = response.status_code
            retry_after = response.headers.get("Retry-After")
        step = decide(
            status,
            retry_after,
            request.expect,
            transport_attempts=transport_errors,
            waited_s=waited_s,
            give_up_s=give_up_s,
        )
        if isinstance(step, Final):
            return Delivered(step.outcome, status, retries, transport_errors, tuple(retried))
        retries += 1
        if status is not None:
            retried.append(status)
        waited_s += step.after_s
        await trio.sleep(step.after_s)
