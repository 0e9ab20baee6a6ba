"""daemon.config.load: defaults, environment variables, flags over them, and the checks."""

from __future__ import annotations

import dataclasses
import json
import sys
from pathlib import Path

import pytest

from daemon.config import SETTINGS, Config, Setting, from_wire, load, to_wire
from daemon.errors import ConfigError

DIRECT = "postgresql://alice:secret@db.example:5432/energy"
POOLED = "postgresql://bob:secret@pgbouncer.example:6432/energy"


def setting_for(env: str) -> Setting:
    (setting,) = [setting for setting in SETTINGS if setting.env == env]
    return setting


# --- defaults ------------------------------------------------------------------------------


def test_defaults_with_an_empty_environment() -> None:
    config = load({}, [])

    assert config == Config()
    assert config.host == "127.0.0.1"
    assert config.port == 3000
    assert config.data_dir == Path("data")
    assert config.shards == 1
    assert config.workers == 0
    assert config.linger_ms == 0
    assert config.write_path == "grouped"
    assert config.log_level == "info"
    assert config.database_url is None
    assert config.database_pool_url is None
    assert config.dsn is None
    assert config.uses_pooler is False
    assert config.describe()["database"] == "embedded"


def test_argv_none_means_no_flags_not_the_process_arguments(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(sys, "argv", ["ingestd", "--port", "1234"])

    assert load({}).port == 3000
    assert load({}, None).port == 3000


def test_unrelated_environment_variables_are_ignored() -> None:
    assert load({"HOME": "/root", "PGPASSWORD": "x", "INGEST_UNKNOWN": "1"}) == Config()


def test_empty_environment_variable_counts_as_unset() -> None:
    assert load({"PORT": "", "INGEST_SHARDS": ""}) == Config()


# --- environment variables and flags -------------------------------------------------------

CASES = [
    pytest.param("INGEST_HOST", "--host", "127.0.0.2", "host", "127.0.0.2", id="host"),
    pytest.param("PORT", "--port", "5000", "port", 5000, id="port"),
    pytest.param("PORT", "--port", "0", "port", 0, id="port-0-ephemeral"),
    pytest.param("PORT", "--port", "65535", "port", 65535, id="port-65535"),
    pytest.param(
        "INGEST_DATA_DIR",
        "--data-dir",
        "/var/lib/ingest",
        "data_dir",
        Path("/var/lib/ingest"),
        id="data-dir",
    ),
    pytest.param(
        "DATABASE_URL",
        "--database-url",
        "postgres://h/db",
        "database_url",
        "postgres://h/db",
        id="database-url",
    ),
    pytest.param(
        "DATABASE_POOL_URL",
        "--database-pool-url",
        "postgresql://p/db",
        "database_pool_url",
        "postgresql://p/db",
        id="database-pool-url",
    ),
    pytest.param(
        "USE_DATABASE_POOLER",
        "--use-database-pooler",
        "false",
        "use_database_pooler",
        False,
        id="use-database-pooler",
    ),
    pytest.param("INGEST_WORKERS", "--workers", "3", "workers", 3, id="workers"),
    pytest.param("INGEST_WORKERS", "--workers", "1", "workers", 1, id="workers-1"),
    pytest.param(
        "INGEST_WRITE_PATH",
        "--write-path",
        "per-reading",
        "write_path",
        "per-reading",
        id="write-path",
    ),
    pytest.param("INGEST_SHARDS", "--shards", "8", "shards", 8, id="shards"),
    pytest.param("INGEST_SHARDS", "--shards", "2", "shards", 2, id="shards-2"),
    pytest.param("INGEST_SHARDS", "--shards", "256", "shards", 256, id="shards-256"),
    pytest.param(
        "INGEST_LINGER_MS",
        "--linger-ms",
        "20",
        "linger_ms",
        20,
        id="linger-ms",
    ),
    pytest.param(
        "INGEST_FOLD_INTERVAL_S", "--fold-interval-s", "0.5", "fold_interval_s", 0.5, id="fold"
    ),
    pytest.param("INGEST_MAX_BATCH", "--max-batch", "100", "max_batch", 100, id="max-batch"),
    pytest.param(
        "INGEST_QUEUE_READINGS",
        "--queue-readings",
        "20000",
        "queue_readings",
        20_000,
        id="queue-readings",
    ),
    pytest.param(
        "INGEST_ACK_TIMEOUT_S",
        "--ack-timeout-s",
        "2.5",
        "ack_timeout_s",
        2.5,
        id="ack-timeout-s",
    ),
    pytest.param(
        "INGEST_CLOCK_SKEW_S", "--clock-skew-s", "0", "clock_skew_s", 0.0, id="clock-skew-s"
    ),
    pytest.param(
        "INGEST_RETENTION_DAYS",
        "--retention-days",
        "90",
        "retention_days",
        90,
        id="retention-days",
    ),
    pytest.param(
        "INGEST_SHUTDOWN_GRACE_S",
        "--shutdown-grace-s",
        "5",
        "shutdown_grace_s",
        5.0,
        id="shutdown-grace-s",
    ),
    pytest.param(
        "INGEST_LOG_LEVEL", "--log-level", "WARNING", "log_level", "warning", id="log-level"
    ),
]


@pytest.mark.parametrize(("env", "flag", "raw", "name", "expected"), CASES)
def test_environment_variable_is_read(
    env: str, flag: str, raw: str, name: str, expected: object
) -> None:
    config = load({env: raw}, [])

    assert getattr(config, name) == expected
    assert getattr(config, name) != getattr(Config(), name)  # not the default by chance


@pytest.mark.parametrize(("env", "flag", "raw", "name", "expected"), CASES)
def test_flag_is_read(env: str, flag: str, raw: str, name: str, expected: object) -> None:
    assert (setting_for(env).flag, setting_for(env).name) == (flag, name)

    config = load({}, [flag, raw])

    assert getattr(config, name) == expected


@pytest.mark.parametrize(
    ("env", "env_raw", "flag_raw", "expected"),
    [
        pytest.param("PORT", "5000", "4000", 4000, id="port"),
        pytest.param("INGEST_HOST", "127.0.0.9", "::1", "::1", id="host"),
        pytest.param(
            "DATABASE_URL",
            DIRECT,
            "postgresql://other/db",
            "postgresql://other/db",
            id="database-url",
        ),
        pytest.param("INGEST_SHARDS", "16", "2", 2, id="shards"),
        pytest.param("INGEST_ACK_TIMEOUT_S", "30", "1.5", 1.5, id="ack-timeout-s"),
        pytest.param("INGEST_LOG_LEVEL", "error", "debug", "debug", id="log-level"),
        pytest.param("INGEST_DATA_DIR", "/a", "/b", Path("/b"), id="data-dir"),
    ],
)
def test_flag_overrides_environment_variable(
    env: str, env_raw: str, flag_raw: str, expected: object
) -> None:
    setting = setting_for(env)

    from_env = load({env: env_raw}, [])
    from_both = load({env: env_raw}, [setting.flag, flag_raw])

    assert getattr(from_both, setting.name) == expected
    assert getattr(from_env, setting.name) != expected


def test_pooler_flag_overrides_pooler_variable() -> None:
    environ = {"DATABASE_URL": DIRECT, "DATABASE_POOL_URL": POOLED}

    forced_off = load({**environ, "USE_DATABASE_POOLER": "true"}, ["--use-database-pooler", "0"])
    forced_on = load({**environ, "USE_DATABASE_POOLER": "false"}, ["--use-database-pooler", "1"])

    assert (forced_off.use_database_pooler, forced_off.dsn) == (False, DIRECT)
    assert (forced_on.use_database_pooler, forced_on.dsn) == (True, POOLED)


def test_port_flag_beats_port_variable() -> None:
    assert load({"PORT": "5000"}, ["--port", "4000"]).port == 4000


def test_flag_with_equals_sign() -> None:
    assert load({"PORT": "5000"}, ["--port=4000"]).port == 4000


def test_valid_flag_beats_an_invalid_variable() -> None:
    assert load({"PORT": "abc"}, ["--port", "4000"]).port == 4000


def test_several_settings_at_once() -> None:
    config = load(
        {"PORT": "5000", "INGEST_SHARDS": "16", "DATABASE_URL": DIRECT},
        ["--shards", "2", "--log-level", "debug"],
    )

    assert (config.port, config.shards, config.log_level) == (5000, 2, "debug")
    assert config.database_url == DIRECT
    assert config.dsn == DIRECT


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        pytest.param("true", True, id="true"),
        pytest.param("TRUE", True, id="TRUE"),
        pytest.param("1", True, id="1"),
        pytest.param("yes", True, id="yes"),
        pytest.param("on", True, id="on"),
        pytest.param(" True ", True, id="padded"),
        pytest.param("false", False, id="false"),
        pytest.param("0", False, id="0"),
        pytest.param("no", False, id="no"),
        pytest.param("Off", False, id="Off"),
    ],
)
def test_boolean_spellings(raw: str, expected: bool) -> None:
    environ = {"USE_DATABASE_POOLER": raw, "DATABASE_URL": DIRECT, "DATABASE_POOL_URL": POOLED}

    assert load(environ).use_database_pooler is expected


# --- direct URL or pooler ------------------------------------------------------------------


def test_only_direct_url_connects_directly() -> None:
    config = load({"DATABASE_URL": DIRECT})

    assert config.uses_pooler is False
    assert config.dsn == DIRECT
    assert config.describe()["database"] == "direct"


def test_pool_url_is_preferred_when_set() -> None:
    config = load({"DATABASE_URL": DIRECT, "DATABASE_POOL_URL": POOLED})

    assert config.uses_pooler is True
    assert config.dsn == POOLED
    assert config.describe()["database"] == "pooler"


def test_pool_url_alone_is_used() -> None:
    config = load({"DATABASE_POOL_URL": POOLED})

    assert config.dsn == POOLED
    assert config.describe()["database"] == "pooler"


def test_pooler_false_forces_the_direct_url() -> None:
    config = load(
        {"DATABASE_URL": DIRECT, "DATABASE_POOL_URL": POOLED, "USE_DATABASE_POOLER": "false"}
    )

    assert config.uses_pooler is False
    assert config.dsn == DIRECT
    assert config.describe()["database"] == "direct"


def test_pooler_true_with_pool_url_uses_it() -> None:
    config = load(
        {"DATABASE_URL": DIRECT, "DATABASE_POOL_URL": POOLED, "USE_DATABASE_POOLER": "true"}
    )

    assert config.uses_pooler is True
    assert config.dsn == POOLED


@pytest.mark.parametrize(
    ("environ", "argv"),
    [
        pytest.param({"USE_DATABASE_POOLER": "true"}, [], id="env-no-urls"),
        pytest.param(
            {"USE_DATABASE_POOLER": "true", "DATABASE_URL": DIRECT}, [], id="env-direct-only"
        ),
        pytest.param(
            {"DATABASE_URL": DIRECT}, ["--use-database-pooler", "yes"], id="flag-direct-only"
        ),
    ],
)
def test_pooler_true_without_pool_url_is_an_error(environ: dict[str, str], argv: list[str]) -> None:
    with pytest.raises(ConfigError) as caught:
        load(environ, argv)

    assert "USE_DATABASE_POOLER" in str(caught.value)
    assert "DATABASE_POOL_URL" in str(caught.value)


@pytest.mark.parametrize(
    ("use", "pool_url", "expected"),
    [
        pytest.param(None, None, False, id="unset-no-pool-url"),
        pytest.param(None, POOLED, True, id="unset-with-pool-url"),
        pytest.param(False, POOLED, False, id="false-with-pool-url"),
        pytest.param(False, None, False, id="false-no-pool-url"),
        pytest.param(True, POOLED, True, id="true-with-pool-url"),
    ],
)
def test_uses_pooler(use: bool | None, pool_url: str | None, expected: bool) -> None:
    config = Config(database_url=DIRECT, database_pool_url=pool_url, use_database_pooler=use)

    assert config.uses_pooler is expected
    assert config.dsn == (pool_url if expected else DIRECT)


# --- invalid values ------------------------------------------------------------------------

INVALID = [
    pytest.param("PORT", "--port", "abc", id="port-abc"),
    pytest.param("PORT", "--port", "70000", id="port-70000"),
    pytest.param("PORT", "--port", "-1", id="port-negative"),
    pytest.param("PORT", "--port", "80.5", id="port-fraction"),
    pytest.param("INGEST_SHARDS", "--shards", "0", id="shards-0"),
    pytest.param("INGEST_SHARDS", "--shards", "257", id="shards-257"),
    pytest.param("DATABASE_URL", "--database-url", "mysql://x", id="database-url-mysql"),
    pytest.param("DATABASE_URL", "--database-url", "db.example:5432", id="database-url-bare"),
    pytest.param("DATABASE_POOL_URL", "--database-pool-url", "http://x", id="pool-url-http"),
    pytest.param("USE_DATABASE_POOLER", "--use-database-pooler", "maybe", id="pooler-maybe"),
    pytest.param("INGEST_LOG_LEVEL", "--log-level", "loud", id="log-level-loud"),
    pytest.param("INGEST_WORKERS", "--workers", "-1", id="workers-negative"),
    pytest.param("INGEST_WORKERS", "--workers", "65", id="workers-too-many"),
    pytest.param("INGEST_WRITE_PATH", "--write-path", "fast", id="write-path-unknown"),
    pytest.param("INGEST_LINGER_MS", "--linger-ms", "-1", id="linger-negative"),
    pytest.param("INGEST_FOLD_INTERVAL_S", "--fold-interval-s", "0", id="fold-zero"),
    pytest.param("INGEST_MAX_BATCH", "--max-batch", "100001", id="max-batch-too-big"),
    pytest.param("INGEST_QUEUE_READINGS", "--queue-readings", "9999", id="queue-too-small"),
    pytest.param("INGEST_ACK_TIMEOUT_S", "--ack-timeout-s", "0", id="ack-timeout-0"),
    pytest.param("INGEST_ACK_TIMEOUT_S", "--ack-timeout-s", "nan", id="ack-timeout-nan"),
    pytest.param("INGEST_CLOCK_SKEW_S", "--clock-skew-s", "-1", id="clock-skew-negative"),
    pytest.param("INGEST_CLOCK_SKEW_S", "--clock-skew-s", "inf", id="clock-skew-inf"),
    pytest.param("INGEST_RETENTION_DAYS", "--retention-days", "-1", id="retention-negative"),
    pytest.param("INGEST_SHUTDOWN_GRACE_S", "--shutdown-grace-s", "x", id="grace-x"),
]


@pytest.mark.parametrize(("env", "flag", "raw"), INVALID)
def test_invalid_environment_variable_is_named(env: str, flag: str, raw: str) -> None:
    with pytest.raises(ConfigError) as caught:
        load({env: raw}, [])

    message = str(caught.value)
    assert message.startswith(f"{env}:"), message
    assert flag not in message


@pytest.mark.parametrize(("env", "flag", "raw"), INVALID)
def test_invalid_flag_is_named(env: str, flag: str, raw: str) -> None:
    with pytest.raises(ConfigError) as caught:
        load({}, [f"{flag}={raw}"])

    message = str(caught.value)
    assert message.startswith(f"{flag}:"), message
    assert not message.startswith(env)


def test_invalid_flag_is_named_even_when_the_variable_is_valid() -> None:
    with pytest.raises(ConfigError, match=r"^--port: "):
        load({"PORT": "5000"}, ["--port", "70000"])


@pytest.mark.parametrize(
    ("env", "raw", "reason"),
    [
        pytest.param("PORT", "abc", "expected a whole number", id="port-not-a-number"),
        pytest.param("PORT", "70000", "expected 0 to 65535", id="port-range"),
        pytest.param("INGEST_SHARDS", "0", "expected 1 to 256", id="shards-range"),
        pytest.param("USE_DATABASE_POOLER", "maybe", "true or false", id="boolean"),
        pytest.param("INGEST_LOG_LEVEL", "loud", "debug, info, warning or error", id="level"),
    ],
)
def test_invalid_value_message_says_what_was_expected_and_got(
    env: str, raw: str, reason: str
) -> None:
    with pytest.raises(ConfigError) as caught:
        load({env: raw})

    assert reason in str(caught.value)
    assert repr(raw) in str(caught.value)


def test_config_error_is_a_value_error() -> None:
    with pytest.raises(ValueError, match="PORT"):
        load({"PORT": "abc"})


# --- secrets -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("environ", "argv"),
    [
        pytest.param({"DATABASE_URL": DIRECT, "DATABASE_POOL_URL": POOLED}, [], id="env"),
        pytest.param({}, ["--database-url", DIRECT, "--database-pool-url", POOLED], id="flags"),
    ],
)
def test_passwords_are_redacted(environ: dict[str, str], argv: list[str]) -> None:
    config = load(environ, argv)
    assert config.dsn == POOLED  # the real URL is still there for the pool

    described = config.describe()

    assert "secret" not in str(described)
    assert "secret" not in repr(config)
    assert "secret" not in str(config)
    assert described["database_url"] == "postgresql://alice:***@db.example:5432/energy"
    assert described["database_pool_url"] == "postgresql://bob:***@pgbouncer.example:6432/energy"
    assert described["database"] == "pooler"


def test_url_without_password_is_shown_unchanged() -> None:
    url = "postgresql://alice@db.example:5432/energy?sslmode=require"

    assert load({"DATABASE_URL": url}).describe()["database_url"] == url


def test_describe_lists_every_setting_with_plain_values() -> None:
    described = load({"INGEST_DATA_DIR": "/srv/ingest"}).describe()

    assert set(described) == {setting.name for setting in SETTINGS} | {
        "database",
        "authentication",
    }
    assert described["data_dir"] == "/srv/ingest"
    assert described["port"] == 3000
    assert described["database_url"] is None


# --- the settings table --------------------------------------------------------------------


def test_every_setting_has_a_distinct_name_env_and_flag() -> None:
    names = [setting.name for setting in SETTINGS]
    envs = [setting.env for setting in SETTINGS]
    flags = [setting.flag for setting in SETTINGS]

    assert len(set(names)) == len(SETTINGS)
    assert len(set(envs)) == len(SETTINGS)
    assert len(set(flags)) == len(SETTINGS)
    assert all(flag.startswith("--") and "_" not in flag for flag in flags)
    assert all(env == env.upper() and env.isidentifier() for env in envs)


def test_every_config_field_has_a_setting() -> None:
    fields = {field.name for field in dataclasses.fields(Config)}

    assert {setting.name for setting in SETTINGS} == fields
    assert len(fields) == 25


def test_secret_settings_are_the_database_urls_and_the_tokens() -> None:
    secrets = {"database_url", "database_pool_url", "tokens"}
    assert {setting.name for setting in SETTINGS if setting.redact is not None} == secrets
    assert {field.name for field in dataclasses.fields(Config) if not field.repr} == secrets


def test_pooler_false_without_a_direct_url_is_refused_not_silently_embedded() -> None:
    with pytest.raises(ConfigError, match="DATABASE_URL"):
        load({"DATABASE_POOL_URL": POOLED, "USE_DATABASE_POOLER": "false"})


def test_a_refused_url_is_shown_without_its_password() -> None:
    with pytest.raises(ConfigError) as caught:
        load({"DATABASE_URL": "mysql://user:hunter2@db/app"})
    assert "hunter2" not in str(caught.value)
    assert "DATABASE_URL" in str(caught.value)


def test_a_password_in_the_query_string_is_masked() -> None:
    config = load({"DATABASE_URL": "postgresql://db/app?user=u&password=hunter2&sslmode=require"})
    shown = str(config.describe())
    assert "hunter2" not in shown
    assert "sslmode=require" in shown


def test_zero_workers_means_one_per_core(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("os.cpu_count", lambda: 6)

    assert load({}).worker_count == 6
    assert load({"INGEST_WORKERS": "2"}).worker_count == 2


def test_the_wire_form_a_worker_receives_gives_back_the_same_config() -> None:
    config = load(
        {"DATABASE_URL": "postgresql://u:p@db/x", "INGEST_DATA_DIR": "/srv/d"},
        ["--workers", "3", "--ack-timeout-s", "2.5", "--use-database-pooler", "false"],
    )

    wire = to_wire(config)

    assert json.loads(json.dumps(wire)) == wire
    assert from_wire(wire) == config
