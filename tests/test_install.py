"""A non-editable install (``pip install .``) holds every package and data file the code needs:
each module imports from the installed copy, never from this checkout, and the entry points
start."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
_NOT_SOURCES = (".git", ".venv", "build", "*.egg-info", "__pycache__", ".*_cache")

_IMPORT_ALL = """
import importlib, pathlib, pkgutil, sys
site = pathlib.Path(sys.argv[1]).resolve()
names = []
for top in ("daemon", "monitor", "loadgen", "bench"):
    package = importlib.import_module(top)
    names.append(top)
    found = pkgutil.walk_packages(package.__path__, top + ".")
    names += [m.name for m in found if not m.name.endswith(".__main__")]
for name in names:
    module = importlib.import_module(name)
    where = pathlib.Path(module.__file__).resolve()
    assert where.is_relative_to(site), (name, str(where))
print(len(names))
"""


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    site = tmp_path_factory.mktemp("site")
    # From a copy of the sources alone: setuptools builds in the tree's build/, where files of
    # an earlier build (a module since moved, say) would be installed too.
    source = tmp_path_factory.mktemp("source") / "energy-ingest"
    shutil.copytree(ROOT, source, symlinks=True, ignore=shutil.ignore_patterns(*_NOT_SOURCES))
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--target", site, source],
        check=True,
        timeout=300,
    )
    return site


def _run(site: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """Python from outside the checkout, with the installed copy first on its path."""
    return subprocess.run(
        [sys.executable, *args],
        cwd=site.parent,
        env={**os.environ, "PYTHONPATH": str(site)},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_every_module_imports_from_the_installed_copy(installed: Path) -> None:
    done = _run(installed, "-c", _IMPORT_ALL, str(installed))
    assert done.returncode == 0, done.stderr
    sources = [p for top in _TOPS for p in (ROOT / top).rglob("*.py") if p.name != "__main__.py"]
    assert int(done.stdout) == len(sources)


_TOPS = ("daemon", "monitor", "loadgen", "bench")


def test_data_files_are_installed(installed: Path) -> None:
    migrations = sorted(p.name for p in (installed / "daemon" / "sql").glob("*.sql"))
    assert migrations == sorted(p.name for p in (ROOT / "sql").glob("*.sql"))
    for path in ("daemon/openapi.json", "daemon/py.typed", "monitor/ui/monitor.tcss"):
        assert (installed / path).is_file(), path
    assert sorted(p.name for p in (installed / "bench" / "lua").glob("*.lua")) == sorted(
        p.name for p in (ROOT / "bench" / "lua").glob("*.lua")
    )


@pytest.mark.parametrize(
    ("module", "says"),
    [
        ("daemon", "usage: ingestd"),
        ("monitor", "usage: ingest-monitor"),
        ("loadgen", "usage: ingest-loadgen"),
        ("bench", "usage: ingest-bench"),
    ],
)
def test_each_program_starts_from_the_installed_copy(
    installed: Path, module: str, says: str
) -> None:
    done = _run(installed, "-m", module, "--help")
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith(says), done.stdout[:200]
