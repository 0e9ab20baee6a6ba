"""``--config FILE`` (or ``INGEST_CONFIG``): every setting from a TOML file, under the
environment, under the flags; whatever is wrong in it is named with the file and the key."""

from __future__ import annotations

import dataclasses
import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from daemon.config import SETTINGS, Config, load
from daemon.errors import ConfigError

EXAMPLE = Path(__file__).resolve().parent.parent / "ingestd.example.toml"


def _file(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "ingestd.toml"
    path.write_text(text)
    return path


def test_the_example_file_gives_exactly_the_defaults() -> None:
    """So the example cannot drift from the code: a default changed in one is a failure."""
    config = load({}, ["--config", str(EXAMPLE)])

    assert dataclasses.replace(config, config=None) == Config()
    assert config.config == EXAMPLE


def test_the_example_file_shows_every_setting() -> None:
    text = EXAMPLE.read_text()
    for setting in SETTINGS:
        if setting.name != "config":
            assert re.search(rf"^(# )?{setting.name} = ", text, re.MULTILINE), setting.name
            assert setting.env in text


def test_the_file_sets_what_it_says_under_the_environment_under_the_flags(
    tmp_path: Path,
) -> None:
    path = _file(
        tmp_path,
        'port = 4000\nshards = 4\nack_timeout_s = 2.5\ninsecure = true\nhost = "0.0.0.0"\n'
        'data_dir = "/srv/ingest"\nlog_level = "warning"\n',
    )

    from_file = load({"INGEST_CONFIG": str(path)})
    with_env = load({"INGEST_CONFIG": str(path), "INGEST_SHARDS": "8", "PORT": "4001"})
    with_flag = load({"INGEST_CONFIG": str(path), "PORT": "4001"}, ["--port", "4002"])

    assert (from_file.port, from_file.shards, from_file.ack_timeout_s) == (4000, 4, 2.5)
    assert from_file.insecure is True
    assert from_file.data_dir == Path("/srv/ingest")
    assert (with_env.port, with_env.shards) == (4001, 8)
    assert (with_flag.port, with_flag.shards) == (4002, 4)
    assert with_flag.log_level == "warning"


def test_the_flag_names_the_file_over_the_variable(tmp_path: Path) -> None:
    first, second = tmp_path / "a.toml", tmp_path / "b.toml"
    first.write_text("port = 1\n")
    second.write_text("port = 2\n")

    assert load({"INGEST_CONFIG": str(first)}, ["--config", str(second)]).port == 2


@pytest.mark.parametrize(
    ("text", "said"),
    [
        pytest.param("prot = 3000\n", "'prot' is not a setting", id="unknown-key"),
        pytest.param("config = 'other.toml'\n", "'config' is not a setting", id="nested-file"),
        pytest.param("port = 70000\n", "port: expected 0 to 65535 (got '70000')", id="range"),
        pytest.param("shards = 2.5\n", "shards: expected a whole number", id="not-whole"),
        pytest.param("port = true\n", "port: expected a whole number", id="bool-for-int"),
        pytest.param("insecure = 'maybe'\n", "insecure: expected true or false", id="bad-bool"),
        pytest.param("[server]\nport = 1\n", "'server' is not a setting", id="table"),
        pytest.param("workers = [1, 2]\n", "workers: expected a string, a number", id="array"),
        pytest.param("port = \n", "not valid TOML", id="not-toml"),
    ],
)
def test_what_is_wrong_in_the_file_is_named_with_the_file(
    tmp_path: Path, text: str, said: str
) -> None:
    path = _file(tmp_path, text)

    with pytest.raises(ConfigError) as caught:
        load({}, ["--config", str(path)])

    assert str(path) in str(caught.value)
    assert said in str(caught.value)


def test_a_file_that_cannot_be_read_is_named(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"INGEST_CONFIG: cannot read .*missing.toml"):
        load({"INGEST_CONFIG": str(tmp_path / "missing.toml")})


def test_secrets_from_the_file_are_masked(tmp_path: Path) -> None:
    path = _file(
        tmp_path,
        'database_url = "postgresql://u:hunter2@db/x"\ntokens = "admin:0123456789abcdef-secret"\n',
    )

    described = str(load({}, ["--config", str(path)]).describe())

    assert "hunter2" not in described
    assert "0123456789abcdef-secret" not in described
    assert str(path) in described


def test_the_daemon_exits_2_with_one_line_naming_the_key_and_the_file(tmp_path: Path) -> None:
    path = _file(tmp_path, "prot = 3000\n")

    done = subprocess.run(
        [sys.executable, "-m", "daemon", "--config", str(path)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )

    assert done.returncode == 2
    (line,) = done.stderr.strip().splitlines()
    message = json.loads(line)["msg"]
    assert str(path) in message
    assert "'prot'" in message
