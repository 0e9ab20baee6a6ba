"""The numbered SQL files in ``sql/``: found, ordered and checked before any is applied."""

from __future__ import annotations

import re
from dataclasses import dataclass
from importlib import resources
from importlib.resources.abc import Traversable

_NAME = re.compile(r"(\d{3})_([a-z0-9_]+)\.sql")


@dataclass(frozen=True, slots=True)
class Migration:
    version: int
    name: str
    sql: str


def load(directory: Traversable | None = None) -> list[Migration]:
    """Every ``NNN_name.sql``, in order; a gap or a repeated number is a packaging mistake."""
    directory = directory or resources.files("daemon.sql")
    found: list[Migration] = []
    paths = (p for p in directory.iterdir() if p.name.endswith(".sql"))
    for path in sorted(paths, key=lambda p: p.name):
        match = _NAME.fullmatch(path.name)
        if match is None:
            raise ValueError(f"{path.name}: migrations are named NNN_snake_case.sql")
        found.append(Migration(int(match[1]), match[2], path.read_text(encoding="utf-8")))
    versions = [m.version for m in found]
    if versions != list(range(1, len(found) + 1)):
        raise ValueError(f"migrations in {directory} must be numbered 001, 002, ... without gaps")
    return found
