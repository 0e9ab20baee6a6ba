"""Who may call what (docs/api.md, Conventions): bearer tokens, each with one role.

``ingest`` may post readings, ``read`` may read (status, analytics, fleet, metrics), ``admin``
may do everything, links included. ``/healthz``, ``/readyz`` and the API's own description are
open: probes and tooling must not need a secret, and none of them tells anything about the
fleet. Any other path needs a known token, so that an unknown path answers 401 to a stranger
rather than telling them what exists.

Tokens are kept only as SHA-256 digests and every presented token is compared with every
known one in constant time, so neither the answer's timing nor a memory dump gives one away.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Final

ROLES: Final = ("ingest", "read", "admin")
MIN_TOKEN_LENGTH: Final = 16
_TOKEN = re.compile(r"[!-~]+")
"""Printable ASCII without spaces: what an ``Authorization`` header carries unchanged."""

OPEN_PATHS: Final = frozenset({"/healthz", "/readyz", "/openapi.json"})
ANY_ROLE: Final = "any"
"""Required of paths outside the contract: any known token, then they get their 404 or 405."""

_ROLE_OF_PREFIX: Final = (
    ("/v1/ingest", "ingest"),
    ("/v1/links", "admin"),
    ("/v1/status/", "read"),
    ("/v1/analytics/", "read"),
    ("/v1/fleet/", "read"),
    ("/metrics", "read"),
)


def required_role(path: str) -> str | None:
    """The role a call to ``path`` needs, or None when it is open to anyone."""
    if path in OPEN_PATHS:
        return None
    for prefix, role in _ROLE_OF_PREFIX:
        if path == prefix or path.startswith(prefix + ("" if prefix.endswith("/") else "/")):
            return role
    return ANY_ROLE


def allows(role: str, required: str) -> bool:
    return role == "admin" or required in (role, ANY_ROLE)


def parse_tokens(text: str) -> dict[str, str]:
    """``role:token`` entries separated by commas, spaces or new lines (``#`` starts a comment
    that runs to the end of its line): token to role. Errors name the entry by its position,
    never by the token itself."""
    tokens: dict[str, str] = {}
    entries = (
        entry
        for line in text.splitlines()
        for entry in re.split(r"[,\s]+", line.partition("#")[0])
        if entry
    )
    for number, entry in enumerate(entries, start=1):
        role, colon, token = entry.partition(":")
        where = f"entry {number}"
        if not colon or role not in ROLES:
            raise ValueError(f"{where}: expected role:token with a role of {', '.join(ROLES)}")
        if len(token) < MIN_TOKEN_LENGTH or not _TOKEN.fullmatch(token):
            raise ValueError(
                f"{where}: a token is at least {MIN_TOKEN_LENGTH} printable characters"
                " without spaces (e.g. from `openssl rand -hex 32`)"
            )
        if tokens.setdefault(token, role) != role:
            raise ValueError(f"{where}: the same token is given two roles")
    return tokens


def join(tokens: Mapping[str, str]) -> str:
    """The form ``parse_tokens`` reads back."""
    return ",".join(f"{role}:{token}" for token, role in tokens.items())


def describe(tokens: Mapping[str, str]) -> str:
    """How many tokens of which roles, for the start-up log: never a token."""
    if not tokens:
        return "none"
    counts = {role: sum(1 for r in tokens.values() if r == role) for role in ROLES}
    return ", ".join(f"{count} {role}" for role, count in counts.items() if count)


def _digest(token: str) -> bytes:
    return hashlib.sha256(token.encode()).digest()


@dataclass(frozen=True)
class Keyring:
    """The known tokens, by digest."""

    roles: tuple[tuple[bytes, str], ...]

    @classmethod
    def of(cls, tokens: Mapping[str, str]) -> Keyring:
        return cls(tuple((_digest(token), role) for token, role in tokens.items()))

    def role_of(self, token: str) -> str | None:
        """The token's role, after comparing it with every known token whatever matched."""
        presented = _digest(token)
        found = None
        for digest, role in self.roles:
            if hmac.compare_digest(presented, digest):
                found = role
        return found


def bearer(header: bytes | None) -> str | None:
    """The token of an ``Authorization: Bearer <token>`` header (the scheme in any case)."""
    if header is None:
        return None
    scheme, _, token = header.decode("latin-1").strip().partition(" ")
    token = token.strip()
    return token if scheme.lower() == "bearer" and token else None
