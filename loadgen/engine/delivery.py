"""Delivering one request of the plan, and what its final answer means.

The retrying is the engine client's (a failed connection or a 503 is tried again, after the
503's Retry-After, with the same body: duplicates replace, so this is always safe); what is
decided here is whether the answer that came was the one the request called for.
"""

from __future__ import annotations

from enum import Enum

import httpx

from loadgen.engine.client import JSON, Engine, Exchanged
from loadgen.simulation.plan import Request


class Outcome(Enum):
    EXPECTED = "expected"
    """The answer the request called for: 201 for data, 400 for an injected fault."""
    UNEXPECTED = "unexpected"
    """A final answer other than that: counted, shown, and the run fails verification."""
    UNCERTAIN = "uncertain"
    """Gave up without a final answer: the engine may or may not have stored it."""


def outcome(status: int | None, expect: int) -> Outcome:
    """``status`` None: the request was given up without a final answer."""
    if status is None:
        return Outcome.UNCERTAIN
    return Outcome.EXPECTED if status == expect else Outcome.UNEXPECTED


async def deliver(engine: Engine, http: httpx.AsyncClient, request: Request) -> Exchanged:
    path = "/v1/ingest/batch" if request.batch else "/v1/ingest"
    return await engine.exchange(http, "POST", path, content=request.body, headers=JSON)
