"""The benchmark's points of comparison, behind the same front as the real write path.

``Discard`` parses and answers without storing: the ceiling of the HTTP stack itself.
``PerReading`` writes as the original service did, one INSERT and one guarded UPSERT per
reading with no batching: the baseline the engine's group commit is measured against. Neither
is for production: readings that ``Discard`` acknowledges are not stored.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Final, Protocol

from daemon.readings import Reading


class _Done:
    """A commit that has already happened (or, for ``Discard``, never will)."""

    async def wait(self) -> None:
        return


_DONE: Final = _Done()


class Discard:
    def offer(self, readings: Sequence[Reading]) -> _Done:
        return _DONE


class EachWriter(Protocol):
    async def write_each(self, readings: Sequence[Reading]) -> None: ...


class _WriteOnWait:
    __slots__ = ("_readings", "_store")

    def __init__(self, store: EachWriter, readings: Sequence[Reading]) -> None:
        self._store = store
        self._readings = readings

    async def wait(self) -> None:
        await self._store.write_each(self._readings)


class PerReading:
    """The request itself writes, statement after statement, while it waits for its answer."""

    def __init__(self, store: EachWriter) -> None:
        self._store = store

    def offer(self, readings: Sequence[Reading]) -> _WriteOnWait:
        return _WriteOnWait(self._store, readings)
