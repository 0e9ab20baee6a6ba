"""Readiness: may a load balancer send this process traffic right now?"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from daemon.errors import StoreError, StoreUnavailable
from daemon.ingest.intake import Intake
from daemon.ingest.writer import WriterState


class Pingable(Protocol):
    async def ping(self) -> None: ...


def writers_reason(intake: Intake, writers: Sequence[WriterState]) -> str | None:
    """Why this process cannot take readings right now, as far as it knows without asking the
    database; None when it can."""
    if not intake.accepting:
        return "shutting down"
    stuck = [w.shard for w in writers if w.retrying]
    if stuck:
        return f"shard writers {stuck} cannot commit to PostgreSQL and are retrying"
    refused = [(w.shard, why) for w in writers if (why := w.refusal()) is not None]
    if refused:
        shard, why = refused[0]
        return f"PostgreSQL refused the last flush of shard writer {shard}: {why}"
    return None


async def not_ready_reason(
    database: Pingable, intake: Intake, writers: Sequence[WriterState]
) -> str | None:
    """None when ready; otherwise one sentence an operator can act on."""
    reason = writers_reason(intake, writers)
    if reason is not None:
        return reason
    try:
        await database.ping()
    except (StoreUnavailable, StoreError) as error:
        return f"PostgreSQL does not answer: {error}"
    return None
