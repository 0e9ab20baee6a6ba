"""Daemon configuration: environment variables, overridden by command-line flags, checked once.

Every setting is declared once in ``SETTINGS``; the flag parser, the environment reader and
the redacted start-up summary are all derived from that table, so they cannot drift apart.
"""

from __future__ import annotations

import argparse
import dataclasses
import ipaddress
import os
import tomllib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any, Final
from urllib.parse import parse_qsl, urlencode, urlsplit

from daemon import auth
from daemon.errors import ConfigError

_CENTURY_DAYS = 36_525
_STOP_ROOM_S = 10.0


def _setting(default: Any, help_text: str, *, secret: bool = False) -> Any:
    """A field of ``Config`` with its help text, which ``--help`` and the docs show; a secret
    one is left out of the config's ``repr``."""
    return dataclasses.field(default=default, repr=not secret, metadata={"help": help_text})


@dataclass(frozen=True)
class Config:
    config: Path | None = _setting(
        None,
        "A TOML file of settings, by these names (``port = 3000``); the environment overrides it,"
        " and flags override both.",
    )
    host: str = _setting(
        "127.0.0.1",
        "Address the HTTP front listens on.",
    )
    port: int = _setting(
        3000,
        "TCP port of the HTTP front.",
    )
    data_dir: Path = _setting(
        Path("data"),
        "Where the embedded PostgreSQL keeps its files when no database URL is given.",
    )
    database_url: str | None = _setting(
        None,
        "Direct PostgreSQL URL; unset means the embedded server.",
        secret=True,
    )
    database_pool_url: str | None = _setting(
        None,
        "PgBouncer (transaction mode) URL, preferred over ``database_url`` when set.",
        secret=True,
    )
    use_database_pooler: bool | None = _setting(
        None,
        "Force (true) or forbid (false) the pooler URL; unset: use it when it is set.",
    )
    workers: int = _setting(
        0,
        "Worker processes serving the port, each with its own shard writers and pool; 0 means one"
        " per core.",
    )
    shards: int = _setting(
        1,
        "Shard writers per worker, each committing one statement at a time; a device always lands"
        " on the same one.",
    )
    linger_ms: int = _setting(
        0,
        "How long a shard writer waits after its first reading for more before it commits; 0"
        " commits as soon as the writer is free (readings that arrive meanwhile ride on the next).",
    )
    fold_interval_s: float = _setting(
        5.0,
        "How often pending rollup changes are folded into the rollups. Longer folds more readings"
        " of a device and hour into one update (cheaper under heavy ingest); shorter leaves less"
        " for a fleet read to fold before it answers, and for an analytics read to add in. Answers"
        " are exact either way.",
    )
    max_batch: int = _setting(
        5000,
        "Rows after which a writer takes no more into its next commit (a request's readings are"
        " never split across commits).",
    )
    queue_readings: int = _setting(
        50_000,
        "Uncommitted readings per shard beyond which ingest answers 503.",
    )
    ack_timeout_s: float = _setting(
        10.0,
        "How long a request waits for its commit before it answers 503.",
    )
    keep_alive_s: float = _setting(
        5.0,
        "How long a connection may sit idle (before its first request, between requests, or while"
        " its headers trickle in) before it is closed: idle clients do not pile up.",
    )
    max_connections: int = _setting(
        2048,
        "Connections a worker process holds open at once; more wait in the listen backlog until"
        " one closes. Lowered at start when the limit on open files leaves less room.",
    )
    body_timeout_s: float = _setting(
        30.0,
        "How long a request's body may take to arrive before the answer is 408 and the connection"
        " is closed: a client that promises more than it sends holds nothing for longer.",
    )
    clock_skew_s: float = _setting(
        300.0,
        "How far ahead of the server's clock a reading's timestamp may be.",
    )
    retention_days: int = _setting(
        30,
        "Readings older than this are refused, and day partitions wholly older (by an hour's"
        " margin) are dropped, with their hourly rollups. 0 keeps everything and refuses no"
        " reading for its age.",
    )
    shutdown_grace_s: float = _setting(
        30.0,
        "On SIGTERM: how long the shard writers' final commits may take. Requests in flight get"
        " the ack timeout plus a second, and idle keep-alive connections are closed after that.",
    )
    log_level: str = _setting(
        "info",
        "Least severe level written to stderr: debug, info, warning or error.",
    )
    tokens: str | None = _setting(
        None,
        "Bearer tokens and their roles (ingest, read, admin), as ``role:token`` entries separated"
        " by commas or spaces. Prefer the file: a flag shows in the process list.",
        secret=True,
    )
    tokens_file: Path | None = _setting(
        None,
        "A file of bearer tokens, one ``role:token`` a line, ``#`` comments; used with the"
        " variable's tokens. Without any token the daemon listens on loopback only.",
    )
    insecure: bool = _setting(
        False,
        "Listen on an address beyond loopback without tokens: anyone who reaches the port may"
        " then write readings, edit links and read the fleet.",
    )
    write_path: str = _setting(
        "grouped",
        "How readings reach PostgreSQL: grouped (shard writers, group commit); per-reading (one"
        " INSERT and one guarded UPSERT per reading, as the original service did) and discard"
        " (parse, answer 201, store nothing) exist only as the benchmark's points of comparison.",
    )

    @property
    def drain_s(self) -> float:
        """How long the front waits for requests in flight on shutdown: an ingest waits at most
        the ack timeout, and every other call is one short query."""
        return min(self.shutdown_grace_s, self.ack_timeout_s + 1.0)

    @property
    def stop_s(self) -> float:
        """The longest a clean stop takes: the front's drain, the writers' last commits, and
        room to close the pool (within 5 s) and stop the embedded server. The parent of
        several workers kills those still running after it; a container's stop grace must
        exceed it (docker-compose.yml)."""
        return self.drain_s + self.shutdown_grace_s + _STOP_ROOM_S

    @property
    def max_age(self) -> timedelta:
        """How old an accepted reading may be: retention, or a century when it keeps all."""
        return timedelta(days=self.retention_days or _CENTURY_DAYS)

    @property
    def worker_count(self) -> int:
        return self.workers or os.cpu_count() or 1

    @property
    def token_roles(self) -> dict[str, str]:
        """Every known token and its role (empty: authentication is off)."""
        return auth.parse_tokens(self.tokens or "")

    @property
    def uses_pooler(self) -> bool:
        if self.use_database_pooler is None:
            return self.database_pool_url is not None
        return self.use_database_pooler

    @property
    def dsn(self) -> str | None:
        """The URL the pool connects to, or None for the embedded server."""
        return self.database_pool_url if self.uses_pooler else self.database_url

    def warnings(self) -> list[str]:
        """What an operator should hear at start besides the settings themselves."""
        if self.tokens or _loopback(self.host):
            return []
        return [
            f"authentication is off and the daemon listens on {self.host}: anyone who reaches"
            " the port may write readings, edit links and read the fleet (INGEST_INSECURE=true)"
        ]

    def describe(self) -> dict[str, object]:
        """Every setting, for the start-up log line, with passwords in URLs masked."""
        out: dict[str, object] = {}
        for setting in SETTINGS:
            value = getattr(self, setting.name)
            if setting.redact is not None and isinstance(value, str):
                value = setting.redact(value)
            out[setting.name] = str(value) if isinstance(value, Path) else value
        out["authentication"] = (
            "bearer tokens"
            if self.tokens
            else "off: loopback only"
            if _loopback(self.host)
            else "OFF, and listening beyond loopback (insecure)"
        )
        out["database"] = (
            "embedded" if self.dsn is None else ("pooler" if self.uses_pooler else "direct")
        )
        return out


def redact_url(url: str) -> str:
    """Mask the password, whether in the authority or as a ``password=`` query parameter.

    The authority is taken up to the last ``@``, not by a URL parser: a password holding an
    unencoded ``#``, ``/`` or ``?`` fools parsers into reading part of it as a path or a
    fragment, and it must stay masked in the very message that says the URL is malformed."""
    scheme, separator, rest = url.partition("://")
    if not separator:
        return "***"
    userinfo, at, location = rest.rpartition("@")
    if at and ":" in userinfo:
        userinfo = userinfo.partition(":")[0] + ":***"
    base, question, query = location.partition("?")
    if question:
        pairs = [
            (key, "***" if key.lower() == "password" else value)
            for key, value in parse_qsl(query, keep_blank_values=True)
        ]
        location = f"{base}?{urlencode(pairs, safe='*/')}"
    return f"{scheme}{separator}{userinfo}{at}{location}"


def _bool(text: str) -> bool:
    lowered = text.strip().lower()
    if lowered in {"1", "true", "yes", "on"}:
        return True
    if lowered in {"0", "false", "no", "off"}:
        return False
    raise ValueError("expected true or false")


_SSL_MODES: Final = ("disable", "allow", "prefer", "require", "verify-ca", "verify-full")


def _url(text: str) -> str:
    """A PostgreSQL URL the driver will read as meant: what it would fail on later, with a
    traceback, is refused here in a sentence."""
    parts = urlsplit(text)
    if parts.scheme not in {"postgres", "postgresql"}:
        raise ValueError("expected a postgresql:// URL")
    userinfo = text.partition("://")[2].rpartition("@")[0]
    if parts.fragment or any(c in userinfo for c in "#/?"):
        raise ValueError(
            "a user name or password holding # / ? or @ must be percent-encoded"
            " (# as %23, / as %2F, ? as %3F, @ as %40)"
        )
    query = dict(parse_qsl(parts.query, keep_blank_values=True))
    ports = [
        port for host in parts.netloc.rpartition("@")[2].split(",") if (port := _port_of(host))
    ]
    if "port" in query:
        ports += query["port"].split(",")
    if not all(port.isascii() and port.isdigit() and 1 <= int(port) <= 65535 for port in ports):
        raise ValueError("the port must be a whole number from 1 to 65535")
    if query.get("sslmode", "prefer") not in _SSL_MODES:
        raise ValueError(f"sslmode must be one of {', '.join(_SSL_MODES[:-1])} or {_SSL_MODES[-1]}")
    return text


def _port_of(host: str) -> str:
    """The port of one ``host:port`` of a URL's host list ("" when none), IPv6 brackets aside."""
    return host.rpartition("]")[2].partition(":")[2]


def _tokens(text: str) -> str:
    auth.parse_tokens(text)
    return text


def _redact_tokens(text: str) -> str:
    try:
        return auth.describe(auth.parse_tokens(text))
    except ValueError:
        return "***"


def _loopback(host: str) -> bool:
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return host == "localhost"


def _with_token_file(config: Config) -> Config:
    """The file's tokens joined to the variable's, so that workers get them all at once and
    the file is read (and refused, if it must be) only at start."""
    path = config.tokens_file
    if path is None:
        return config
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        reason = error.strerror if isinstance(error, OSError) else "not UTF-8 text"
        raise ConfigError(f"INGEST_TOKENS_FILE: cannot read {path}: {reason}") from None
    try:
        tokens = auth.parse_tokens(f"{text}\n{config.tokens or ''}")
    except ValueError as error:
        raise ConfigError(f"INGEST_TOKENS_FILE: {path}: {error}") from None
    return dataclasses.replace(config, tokens=auth.join(tokens))


def _one_of(*choices: str) -> Callable[[str], str]:
    def parse(text: str) -> str:
        lowered = text.strip().lower()
        if lowered not in choices:
            raise ValueError(f"expected {', '.join(choices[:-1])} or {choices[-1]}")
        return lowered

    return parse


def _ranged(kind: Callable[[str], float], low: float, high: float) -> Callable[[str], Any]:
    def parse(text: str) -> float:
        try:
            value = kind(text)
        except ValueError:
            raise ValueError(
                "expected a whole number" if kind is int else "expected a number"
            ) from None
        if not low <= value <= high:
            raise ValueError(f"expected {low:g} to {high:g}")
        return value

    return parse


@dataclass(frozen=True)
class Setting:
    name: str
    env: str
    parse: Callable[[str], Any]
    redact: Callable[[str], str] | None = None
    """How a secret value is shown: in the start-up log and in the message refusing it."""

    @property
    def flag(self) -> str:
        return "--" + self.name.replace("_", "-")


SETTINGS: tuple[Setting, ...] = (
    Setting("config", "INGEST_CONFIG", Path),
    Setting("host", "INGEST_HOST", str),
    Setting("port", "PORT", _ranged(int, 0, 65535)),
    Setting("data_dir", "INGEST_DATA_DIR", Path),
    Setting("database_url", "DATABASE_URL", _url, redact=redact_url),
    Setting("database_pool_url", "DATABASE_POOL_URL", _url, redact=redact_url),
    Setting("use_database_pooler", "USE_DATABASE_POOLER", _bool),
    Setting("workers", "INGEST_WORKERS", _ranged(int, 0, 64)),
    Setting("shards", "INGEST_SHARDS", _ranged(int, 1, 256)),
    Setting("linger_ms", "INGEST_LINGER_MS", _ranged(int, 0, 60_000)),
    Setting("fold_interval_s", "INGEST_FOLD_INTERVAL_S", _ranged(float, 0.1, 3600)),
    Setting("max_batch", "INGEST_MAX_BATCH", _ranged(int, 1, 100_000)),
    Setting("queue_readings", "INGEST_QUEUE_READINGS", _ranged(int, 10_000, 10_000_000)),
    Setting("ack_timeout_s", "INGEST_ACK_TIMEOUT_S", _ranged(float, 0.1, 600)),
    Setting("keep_alive_s", "INGEST_KEEP_ALIVE_S", _ranged(float, 0.1, 3600)),
    Setting("max_connections", "INGEST_MAX_CONNECTIONS", _ranged(int, 1, 1_000_000)),
    Setting("body_timeout_s", "INGEST_BODY_TIMEOUT_S", _ranged(float, 0.1, 3600)),
    Setting("clock_skew_s", "INGEST_CLOCK_SKEW_S", _ranged(float, 0, 86_400)),
    Setting("retention_days", "INGEST_RETENTION_DAYS", _ranged(int, 0, 3650)),
    Setting("shutdown_grace_s", "INGEST_SHUTDOWN_GRACE_S", _ranged(float, 0.1, 3600)),
    Setting("log_level", "INGEST_LOG_LEVEL", _one_of("debug", "info", "warning", "error")),
    Setting("tokens", "INGEST_TOKENS", _tokens, redact=_redact_tokens),
    Setting("tokens_file", "INGEST_TOKENS_FILE", Path),
    Setting("insecure", "INGEST_INSECURE", _bool),
    Setting("write_path", "INGEST_WRITE_PATH", _one_of("grouped", "per-reading", "discard")),
)


_HELP: Final = {field.name: field.metadata["help"] for field in dataclasses.fields(Config)}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="ingestd",
        description=(
            "Energy ingestion daemon. Every flag overrides its environment variable, which"
            " overrides the configuration file (--config), which overrides the default."
        ),
    )
    for setting in SETTINGS:
        default = getattr(Config, setting.name, None)
        parser.add_argument(
            setting.flag,
            dest=setting.name,
            metavar=setting.env,
            default=None,
            help=f"{_HELP[setting.name]} (env {setting.env}; default {default})",
        )
    return parser


def _file_value(path: Path, key: str, value: object) -> str:
    """A TOML value as the string its environment variable would hold, so that one parser
    per setting reads both and says the same of a bad value."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float | str):
        return str(value)
    raise ConfigError(f"{path}: {key}: expected a string, a number, or true or false")


def _read_file(path: Path) -> dict[str, str]:
    try:
        with path.open("rb") as file:
            document = tomllib.load(file)
    except OSError as error:
        raise ConfigError(f"INGEST_CONFIG: cannot read {path}: {error.strerror}") from None
    except tomllib.TOMLDecodeError as error:
        raise ConfigError(f"{path}: not valid TOML: {error}") from None
    known = {setting.name for setting in SETTINGS} - {"config"}
    for key in document:
        if key not in known:
            raise ConfigError(
                f"{path}: {key!r} is not a setting; `ingestd --help` lists them (as flags,"
                " with - for _)"
            )
    return {key: _file_value(path, key, value) for key, value in document.items()}


def load(environ: Mapping[str, str], argv: Sequence[str] | None = None) -> Config:
    """Build the config: flag, else environment variable, else the file, else default. Fails
    fast, naming where the bad value came from."""
    flags = vars(build_parser().parse_args(argv if argv is not None else []))
    path = flags.get("config") or environ.get("INGEST_CONFIG") or None
    from_file = _read_file(Path(path)) if path else {}
    values: dict[str, Any] = {}
    for setting in SETTINGS:
        raw, source = flags.get(setting.name), setting.flag
        if raw is None:
            raw, source = environ.get(setting.env), setting.env
        if raw is None or raw == "":
            raw, source = from_file.get(setting.name), f"{path}: {setting.name}"
        if raw is None or raw == "":
            continue
        try:
            values[setting.name] = setting.parse(raw)
        except ValueError as error:
            shown = raw if setting.redact is None else setting.redact(raw)
            raise ConfigError(f"{source}: {error} (got {shown!r})") from None
    config = _with_token_file(Config(**values))
    if not config.token_roles and not config.insecure and not _loopback(config.host):
        raise ConfigError(
            f"INGEST_HOST is {config.host}, beyond this machine, and no tokens are set: set"
            " INGEST_TOKENS or INGEST_TOKENS_FILE (README, Authentication), or"
            " INGEST_INSECURE=true to let anyone who reaches the port write and read"
        )
    if config.use_database_pooler and config.database_pool_url is None:
        raise ConfigError("USE_DATABASE_POOLER is true but DATABASE_POOL_URL is not set")
    if config.use_database_pooler is False and config.database_pool_url and not config.database_url:
        raise ConfigError(
            "USE_DATABASE_POOLER is false and DATABASE_URL is not set: set DATABASE_URL,"
            " or drop USE_DATABASE_POOLER to use DATABASE_POOL_URL"
        )
    return config


def to_wire(config: Config) -> dict[str, Any]:
    """Plain JSON values that ``from_wire`` turns back into the same config: how the parent
    hands a worker process its settings (over a pipe, so no secret shows in its arguments)."""
    return {
        name: str(value) if isinstance(value, Path) else value
        for name, value in dataclasses.asdict(config).items()
    }


def from_wire(values: Mapping[str, Any]) -> Config:
    paths = {
        name: None if values[name] is None else Path(values[name])
        for name in ("config", "data_dir", "tokens_file")
    }
    return Config(**{**values, **paths})
