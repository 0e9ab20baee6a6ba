"""The engine over HTTP, as every phase of a run reaches it: one client per worker, the token
on every request, failed connections and 503s retried (``retry``), and every other failure
turned into a ``Stopped`` sentence that names the URL, the call and what to do.

httpx errors are translated here, at the I/O boundary, with ``raise ... from`` so that
``--verbose`` can still show where they came from.
"""

from __future__ import annotations

import functools
import json
import logging
import os
import ssl
from dataclasses import dataclass
from http import HTTPStatus
from typing import Any

import httpx
import trio

from loadgen.engine.retry import GiveUp, Patience, decide
from loadgen.errors import BadAnswer, Refused, Unreachable

log = logging.getLogger(__name__)

JSON = {"Content-Type": "application/json"}

CONNECT_TIMEOUT_S = 10.0


@functools.cache
def _tls() -> ssl.SSLContext:
    """One context per process: building one loads the system's certificates, which cost more
    CPU than hundreds of requests when every worker built its own."""
    return ssl.create_default_context()


@dataclass(frozen=True, slots=True)
class Exchanged:
    response: httpx.Response | None
    """The final answer; None when this request was given up after ``--give-up-s``."""
    retries: int
    transport_errors: int
    retried_statuses: tuple[int, ...]


class Engine:
    """The engine at one URL, with the run's token and its one ``Patience`` clock."""

    def __init__(self, url: str, *, token: str | None, give_up_s: float) -> None:
        self.url = url
        self.patience = Patience(give_up_s)
        self._headers = {"User-Agent": "ingest-loadgen"}
        if token:
            self._headers["Authorization"] = f"Bearer {token}"

    def __repr__(self) -> str:
        token = "with a token" if "Authorization" in self._headers else "without a token"
        return f"<Engine {self.url} {token}, give up after {self.patience.give_up_s:g} s>"

    def client(self) -> httpx.AsyncClient:
        """A client holding one connection (see ``pool``), sending the token on every call.
        A try that has no answer after ``--give-up-s`` has failed: the engine answers within
        its acknowledgement timeout (10 s by default), or with a 503, when it works at all."""
        give_up_s = self.patience.give_up_s
        return httpx.AsyncClient(
            base_url=self.url,
            headers=self._headers,
            limits=httpx.Limits(max_connections=1, max_keepalive_connections=1),
            timeout=httpx.Timeout(give_up_s, connect=min(CONNECT_TIMEOUT_S, give_up_s)),
            verify=_tls(),
        )

    async def probe(self) -> None:
        """One try of ``/healthz`` (it needs no token): a wrong URL or a daemon that is not
        running is said at once, instead of after ``--give-up-s`` of retries."""
        async with self.client() as http:
            try:
                response = await http.get("/healthz")
            except httpx.TransportError as error:
                raise Unreachable(
                    f"cannot reach the engine at {self.url} ({transport_cause(error)}):"
                    " is ingestd running there? Start it, or point --url at it"
                ) from error
        if response.status_code != 200 or _body(response) != {"status": "ok"}:
            raise BadAnswer(
                f"{self.url} answered GET /healthz with {_status(response)}, which the"
                " ingestion engine does not: check --url"
            )

    async def exchange(
        self,
        http: httpx.AsyncClient,
        method: str,
        path: str,
        *,
        content: bytes | None = None,
        headers: dict[str, str] | None = None,
    ) -> Exchanged:
        """Send until a final answer, retrying failed connections and 503s. Raises
        ``Refused`` on 401 and 403, and ``Unreachable`` once the engine has answered nothing
        at all for ``--give-up-s``."""
        retries = transport_errors = 0
        retried: list[int] = []
        first_failure: float | None = None
        while True:
            response: httpx.Response | None = None
            failure = ""
            tried_at = trio.current_time()
            try:
                response = await http.request(method, path, content=content, headers=headers)
            except httpx.TransportError as error:
                transport_errors += 1
                failure = transport_cause(error)
            else:
                if response.status_code in (401, 403):
                    raise self._refused(method, path, response)
            status = None if response is None else response.status_code
            now = trio.current_time()
            step = decide(
                status,
                None if response is None else response.headers.get("Retry-After"),
                attempt=retries + 1,
                waited_s=0.0 if first_failure is None else now - first_failure,
                give_up_s=self.patience.give_up_s,
            )
            if step is None:
                self.patience.answered(now)
                return Exchanged(response, retries, transport_errors, tuple(retried))
            first_failure = now if first_failure is None else first_failure
            cause = failure if response is None else _status(response)
            self.patience.failed(tried_at, cause)
            if self.patience.exhausted(now):
                raise Unreachable(
                    f"gave up: the engine at {self.url} has answered nothing for"
                    f" {self.patience.silent_s(now):.0f} s (last: {cause}, to {method} {path});"
                    " check that it runs, or raise --give-up-s to wait longer"
                )
            if isinstance(step, GiveUp):
                return Exchanged(None, retries, transport_errors, tuple(retried))
            retries += 1
            if status is not None:
                retried.append(status)
            log.debug("%s %s: %s; retrying in %.2f s", method, path, cause, step.after_s)
            await trio.sleep(step.after_s)

    async def call(
        self,
        http: httpx.AsyncClient,
        method: str,
        path: str,
        *,
        body: object = None,
        accept: tuple[int, ...] = (200,),
    ) -> tuple[httpx.Response, int]:
        """A call of the run's own (a link, a read): the accepted answer and how many retries
        it took; anything else stops the run with a sentence."""
        exchanged = await self.exchange(
            http,
            method,
            path,
            content=None if body is None else json.dumps(body).encode(),
            headers=JSON if body is not None else None,
        )
        response = exchanged.response
        if response is None:
            raise Unreachable(
                f"gave up: {method} {path} had no answer from the engine at {self.url} for"
                f" {self.patience.give_up_s:g} s (last: {self.patience.last_failure});"
                " raise --give-up-s to wait longer"
            )
        if response.status_code not in accept:
            raise BadAnswer(
                f"the engine at {self.url} answered {method} {path} with {_status(response)};"
                " its log may say why"
            )
        return response, exchanged.retries

    def _refused(self, method: str, path: str, response: httpx.Response) -> Refused:
        if path.startswith("/v1/links"):
            need = "linking needs a token with the admin role (or --no-link if the links exist)"
        elif path.startswith("/v1/ingest"):
            need = "sending readings needs a token with the ingest or admin role"
        else:
            need = "--verify needs a token with the read or admin role"
        return Refused(
            f"the engine at {self.url} refused {method} {path} with {_status(response)}: {need};"
            " give it with --token or INGEST_TOKEN"
        )


def _body(response: httpx.Response) -> Any:
    try:
        return response.json()
    except ValueError:
        return None


def _status(response: httpx.Response) -> str:
    """``503 Service Unavailable ("...")``: the status and the daemon's own message, if any."""
    code = response.status_code
    try:
        reason = response.reason_phrase or HTTPStatus(code).phrase
    except ValueError:
        reason = ""
    text = f"{code} {reason}".strip()
    body = _body(response)
    message = body.get("message") if isinstance(body, dict) else None
    if isinstance(message, str) and message:
        text += f' ("{message[:200]}")'
    return text


def transport_cause(error: httpx.TransportError) -> str:
    """What failed, in a few words: httpx's own text is often only "all attempts to connect
    failed", with the useful part ("connection refused") in an OSError further down."""
    if isinstance(error, httpx.ConnectTimeout):
        return "no connection in time"
    if isinstance(error, httpx.TimeoutException):
        return "no answer in time"
    for cause in _causes(error):
        if isinstance(cause, OSError) and cause.errno is not None and cause.errno > 0:
            return os.strerror(cause.errno).lower()
        if isinstance(cause, OSError) and cause.strerror:
            return cause.strerror.lower()
    return str(error).lower() or type(error).__name__


def _causes(error: BaseException) -> list[BaseException]:
    """Every exception behind ``error``: its chain, and the members of any group in it."""
    found: list[BaseException] = []
    pending = [error]
    while pending:
        current = pending.pop(0)
        found.append(current)
        if isinstance(current, BaseExceptionGroup):
            pending.extend(current.exceptions)
        chained = current.__cause__ or current.__context__
        if chained is not None and chained not in found:
            pending.append(chained)
    return found
