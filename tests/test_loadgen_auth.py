"""The load generator against a daemon that wants bearer tokens: the token on every request
(worker processes included) and in no output, and a refusal in one sentence that names the
call, the status, the daemon's message and the role it takes."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest

from daemon.config import Config
from daemon.process.supervisor import Running
from tests.test_loadgen_e2e import _loadgen

_ADMIN = "admin-token-0123456789abcdef"
_INGEST = "ingest-token-0123456789abcdef"


@pytest.fixture
def config(config: Config) -> Config:
    return dataclasses.replace(config, tokens=f"admin:{_ADMIN},ingest:{_INGEST}")


def _small(url: str, *args: str) -> list[str]:
    return ["replay", "--url", url, "--sites", "10", "--hours", "1", "--batch", "100", *args]


async def test_an_admin_token_links_sends_and_verifies_and_is_never_shown(
    daemon: Running, tmp_path: Path
) -> None:
    summary = tmp_path / "summary.json"
    args = _small(daemon.url, "--processes", "2", "--verify", "--json", str(summary))
    done = await _loadgen(*args, env={"INGEST_TOKEN": _ADMIN})
    output = done.stdout.decode() + done.stderr.decode()
    assert done.returncode == 0, output
    result = json.loads(summary.read_text())
    assert result["readings_acked"] == 10 * 60 * 2
    assert result["verification"]["mismatch_count"] == 0
    assert _ADMIN not in output
    assert _ADMIN not in summary.read_text()


@pytest.mark.parametrize(
    ("token", "status", "message"),
    [
        (None, "401 Unauthorized", "This call needs a token"),
        (_INGEST, "403 Forbidden", "A token of role ingest may not call /v1/links"),
    ],
    ids=["no token", "an ingest token"],
)
async def test_linking_without_an_admin_token_stops_in_one_sentence(
    daemon: Running, token: str | None, status: str, message: str
) -> None:
    done = await _loadgen(*_small(daemon.url), *(["--token", token] if token else []))
    err = done.stderr.decode()
    assert done.returncode == 1, err
    assert len(err.splitlines()) == 2, err  # "linking ..." and the sentence
    last = err.splitlines()[-1]
    assert f"refused PUT /v1/links with {status}" in last
    assert message in last
    assert "admin role" in last
    assert done.stdout == b""
    assert token is None or token not in err


async def test_an_ingest_token_sends_but_cannot_verify(daemon: Running) -> None:
    done = await _loadgen(
        *_small(daemon.url, "--no-link", "--verify"), env={"INGEST_TOKEN": _INGEST}
    )
    err = done.stderr.decode()
    assert done.returncode == 1, err
    assert "readings acknowledged" in done.stdout.decode(), "the summary of what was sent"
    last = err.splitlines()[-1]
    assert "refused GET /v1/status/" in last
    assert "403 Forbidden" in last
    assert "--verify needs a token with the read or admin role" in last
    assert "Traceback" not in err
