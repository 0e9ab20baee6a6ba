"""The container files agree with the daemon: no Docker engine is needed to check that they
parse, that every variable they set is one the daemon, the monitor or the load generator reads,
that ports and health checks meet, and that a stop is given the time a clean stop takes. (What
only an engine can show, that the image builds and the services come up, is not tested here.)"""

from __future__ import annotations

import re
import shlex
import subprocess
import sys
import tomllib
from pathlib import Path
from typing import Any

import pytest
import yaml

from daemon.config import SETTINGS, Config, load

ROOT = Path(__file__).resolve().parent.parent
SECONDS = re.compile(r"(\d+)s")


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    document: dict[str, Any] = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    return document


@pytest.fixture(scope="module")
def dockerfile() -> list[tuple[str, str]]:
    """Instructions and their arguments, continuation lines joined."""
    text = (ROOT / "Dockerfile").read_text().replace("\\\n", " ")
    lines = [line.strip() for line in text.splitlines()]
    return [
        (keyword.upper(), rest.strip())
        for keyword, _, rest in (line.partition(" ") for line in lines)
        if keyword and not keyword.startswith("#")
    ]


def _environment(service: dict[str, Any]) -> dict[str, str]:
    """The service's variables as a container gets them with an empty shell environment."""
    values = {key: str(value) for key, value in service.get("environment", {}).items()}
    return {key: re.sub(r"\$\{\w+:-([^}]*)\}", r"\1", value) for key, value in values.items()}


def test_the_services_and_how_they_are_started(compose: dict[str, Any]) -> None:
    services = compose["services"]
    assert set(services) == {"postgres", "ingestd", "monitor", "loadgen"}
    assert services["monitor"]["profiles"] == services["loadgen"]["profiles"] == ["tools"]
    assert services["monitor"]["entrypoint"] == ["ingest-monitor"]
    assert services["monitor"]["tty"] is True
    assert services["loadgen"]["entrypoint"] == ["ingest-loadgen"]
    assert services["monitor"]["image"] == services["ingestd"]["image"]


def test_the_daemon_s_variables_are_settings_and_make_a_valid_config(
    compose: dict[str, Any],
) -> None:
    environment = _environment(compose["services"]["ingestd"])
    known = {setting.env for setting in SETTINGS}

    assert set(environment) <= known
    config = load(environment)
    assert config.host == "0.0.0.0"
    assert config.insecure, "beyond loopback without tokens the daemon refuses to start"


def test_every_variable_is_in_ingestd_help(compose: dict[str, Any]) -> None:
    shown = subprocess.run(
        [sys.executable, "-m", "daemon", "--help"],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    ).stdout
    for name in _environment(compose["services"]["ingestd"]):
        assert name in shown, name


def test_ports_and_health_checks_meet(
    compose: dict[str, Any], dockerfile: list[tuple[str, str]]
) -> None:
    daemon = compose["services"]["ingestd"]
    port = load(_environment(daemon)).port
    assert daemon["ports"] == [f"127.0.0.1:{port}:{port}"]
    probe = " ".join(daemon["healthcheck"]["test"])
    assert f"http://127.0.0.1:{port}/readyz" in probe
    assert ("EXPOSE", str(Config().port)) in dockerfile
    (healthcheck,) = [rest for keyword, rest in dockerfile if keyword == "HEALTHCHECK"]
    assert "/readyz" in healthcheck
    for tool in ("monitor", "loadgen"):
        service = compose["services"][tool]
        assert service["depends_on"]["ingestd"]["condition"] == "service_healthy"
    assert _environment(compose["services"]["monitor"])["INGEST_MONITOR_URL"] == (
        f"http://ingestd:{port}"
    )
    assert f"http://ingestd:{port}" in compose["services"]["loadgen"]["command"]


def test_the_stop_grace_covers_the_longest_clean_stop(compose: dict[str, Any]) -> None:
    """Once 40 s, where the drain (11 s) and the writers' grace (30 s) alone took 41."""
    daemon = compose["services"]["ingestd"]
    match = SECONDS.fullmatch(daemon["stop_grace_period"])
    assert match is not None
    assert int(match[1]) >= load(_environment(daemon)).stop_s + 5


def test_the_image_runs_as_a_user_with_a_data_directory_of_its_own(
    dockerfile: list[tuple[str, str]],
) -> None:
    instructions = dict(dockerfile)
    assert instructions["USER"] not in {"root", "0"}
    assert instructions["STOPSIGNAL"] == "SIGTERM"
    environment = dict(
        pair.split("=", 1) for pair in shlex.split(instructions["ENV"]) if "=" in pair
    )
    assert environment["INGEST_DATA_DIR"] == instructions["VOLUME"]
    assert f"chown {instructions['USER']} {instructions['VOLUME']}" in instructions["RUN"]
    assert set(environment) <= {setting.env for setting in SETTINGS}


def test_the_image_holds_every_package_it_installs(dockerfile: list[tuple[str, str]]) -> None:
    """``pip install .`` builds every package pyproject.toml names; one not copied in fails
    the build."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())
    copied = {rest.split()[0] for keyword, rest in dockerfile if keyword == "COPY"}
    for package in project["tool"]["setuptools"]["packages"]:
        assert package.split(".")[0] in copied, package
