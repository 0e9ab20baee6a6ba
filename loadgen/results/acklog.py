"""``--ack-log``: one ``device<TAB>timestamp`` line per acknowledged reading, on disk as soon
as the acknowledgement arrives.

There is no buffer in the process: each acknowledgement's lines go out in one unbuffered write,
so however the generator ends (Ctrl-C, SIGTERM, a give-up, kill -9) the file holds every
acknowledgement recorded before that moment, as whole lines; a kill -9 loses at most the lines
being written at that instant. One system call per request, not per reading, keeps a replay
of millions of readings cheap.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from types import TracebackType
from typing import Self


class AckLog:
    def __init__(self, path: Path) -> None:
        self.path = path
        self._file = path.open("wb", buffering=0)

    def __repr__(self) -> str:
        return f"<AckLog {self.path}>"

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self._file.close()

    def write(self, acknowledged: Iterable[tuple[str, str]]) -> None:
        """(device, timestamp) pairs of one acknowledgement."""
        data = "".join(f"{device}\t{ts}\n" for device, ts in acknowledged).encode()
        while data:
            written = self._file.write(data)
            data = data[written or 0 :]
