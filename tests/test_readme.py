"""The README's test command is what CI runs: the two must not drift apart."""

from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_ci_runs_the_readme_test_command_verbatim() -> None:
    ci = (ROOT / ".ci" / "run").read_text().splitlines()
    commands = [line for line in ci if line.startswith("python3 -m venv")]
    assert len(commands) == 1, "CI runs exactly one command"
    readme = (ROOT / "README.md").read_text()
    assert f"\n{commands[0]}\n" in readme
    assert "pytest" in commands[0]


def test_every_setting_is_in_the_configuration_table() -> None:
    from daemon.config import SETTINGS

    readme = (ROOT / "README.md").read_text()
    for setting in SETTINGS:
        assert f"| `{setting.env}` | `{setting.flag}` |" in readme, setting.env
