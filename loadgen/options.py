"""The command line: one subcommand per mode, each with its own ``--help`` and only the options
that mean something to it. An option of another mode is refused by name (``--rate does not
apply to replay``) rather than ignored, since a run that silently did something else than asked
wastes the time it takes. Every refusal is argparse's usage error: one line, exit status 2.
"""

from __future__ import annotations

import argparse
import os
import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, NoReturn
from urllib.parse import urlsplit

DEFAULT_URL = "http://127.0.0.1:3000"

TOKEN_VARIABLE = "INGEST_TOKEN"  # noqa: S105 (the variable's name, not a token)

_MODES = {
    "replay": "a past window of history, as fast as the engine takes it",
    "realtime": "every device reports on each minute boundary, as real fleets do (bursts)",
    "rate": "open loop at a fixed number of readings per second",
}

_EPILOG = """exit status: 0 when every answer was the expected one (and, with --verify, every
checked site matched); 1 otherwise, or when the engine cannot be reached, gives up answering or
refuses the token; 2 for a usage error; 130 or 143 when interrupted by SIGINT or SIGTERM (the
summary so far is printed)."""


class _Parser(argparse.ArgumentParser):
    """A usage error is one line: what is wrong, and where the help is (argparse would print
    the whole usage first, a dozen lines of options, and the error last)."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: {message} (see {self.prog} --help)\n")


def _fraction(text: str) -> float:
    value = float(text)
    if not 0.0 <= value <= 1.0:
        raise argparse.ArgumentTypeError("expected a fraction from 0 to 1")
    return value


def _id_prefix(text: str) -> str:
    if not re.fullmatch(r"([A-Za-z0-9][A-Za-z0-9._:-]{0,40})?", text, re.ASCII):
        raise argparse.ArgumentTypeError(
            "up to 41 characters of A-Z a-z 0-9 . _ : -, starting with a letter or digit"
        )
    return text


def _url(text: str) -> str:
    parts = urlsplit(text)
    if parts.scheme not in {"http", "https"} or not parts.hostname:
        raise argparse.ArgumentTypeError(f"expected http://host:port, got {text!r}")
    try:
        parts.port  # noqa: B018  (parsing the port is the check)
    except ValueError as error:
        raise argparse.ArgumentTypeError(f"{text!r}: {error}") from None
    return text.rstrip("/")


def _positive(kind: type[int] | type[float]) -> Any:
    def parse(text: str) -> float:
        value = kind(text)
        if value <= 0:
            raise argparse.ArgumentTypeError("expected a positive number")
        return value

    return parse


def _common() -> _Parser:
    """The options every mode takes, in the order ``--help`` lists them."""
    common = _Parser(add_help=False)
    for add_options in (
        _target_options,
        _fleet_options,
        _fault_options,
        _result_options,
        _run_options,
    ):
        add_options(common)
    return common


def _target_options(parser: argparse.ArgumentParser) -> None:
    """The engine, and the token it takes."""
    add = parser.add_argument
    add("--url", type=_url, default=DEFAULT_URL, help="the engine (default: %(default)s)")
    add(
        "--token",
        help=f"bearer token sent with every request (default: ${TOKEN_VARIABLE}); never printed."
        " Linking needs the admin role, sending ingest, --verify read",
    )


def _fleet_options(parser: argparse.ArgumentParser) -> None:
    """The simulated fleet, and how its readings go out: batched, in flight, in processes."""
    add = parser.add_argument
    add(
        "--sites",
        type=_positive(int),
        default=10_000,
        help="sites: one vehicle and its charger's meter each (default: %(default)s)",
    )
    add("--seed", type=int, default=1, help="same seed, same fleet and readings")
    add(
        "--batch",
        type=int,
        default=0,
        help="readings per POST /v1/ingest/batch; 0 posts single readings (default: 0)",
    )
    add(
        "--concurrency",
        type=_positive(int),
        default=64,
        help="requests in flight per process, links and checks too (default: %(default)s)",
    )
    add(
        "--processes",
        type=_positive(int),
        default=1,
        help="worker processes, each with its share of the sites (default: %(default)s)",
    )


def _fault_options(parser: argparse.ArgumentParser) -> None:
    """What the run does wrong on purpose, as shares of its readings."""
    add = parser.add_argument
    add(
        "--out-of-order",
        type=_fraction,
        default=0.0,
        help="share of readings sent two minutes late",
    )
    add("--duplicates", type=_fraction, default=0.0, help="share of readings sent twice")
    add(
        "--invalid",
        type=_fraction,
        default=0.0,
        help="invalid payloads per reading (each must get 400)",
    )
    add(
        "--clock-ahead",
        type=_fraction,
        default=0.0,
        help="readings stamped an hour past the newest minute, per reading (each must get 400)",
    )


def _result_options(parser: argparse.ArgumentParser) -> None:
    """When a reading counts as uncertain, what is verified, and where the results go."""
    add = parser.add_argument
    add(
        "--give-up-s",
        type=_positive(float),
        default=60.0,
        help="when the engine has answered nothing for this long, stop and say so; a single"
        " request retried this long is counted uncertain (default: %(default)g)",
    )
    add(
        "--verify",
        action="store_true",
        help="afterwards, check status and 24 h analytics of every site",
    )
    add(
        "--verify-sample",
        type=_positive(int),
        help="verify this many sites drawn at random (implies --verify)",
    )
    add("--json", type=Path, help="write the summary here as JSON")
    add(
        "--ack-log",
        type=Path,
        help="write 'device<TAB>timestamp' per acknowledged reading as it comes"
        " (with --processes, one file per process: FILE.0, FILE.1, ...)",
    )


def _run_options(parser: argparse.ArgumentParser) -> None:
    """Device ids, linking, logging, and the hidden options of a worker process."""
    add = parser.add_argument
    add(
        "--id-prefix",
        default="",
        type=_id_prefix,
        help="put this before every device id, so that runs against one"
        " engine do not share devices (and --verify holds)",
    )
    add("--no-link", action="store_true", help="do not PUT the links first")
    add("--verbose", action="store_true", help="log retries, and the cause of a stop in full")
    add("--worker", help=argparse.SUPPRESS)
    add("--t0", help=argparse.SUPPRESS)


def _duration(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--duration-s",
        type=_positive(float),
        default=60.0,
        help="how long to run (default: %(default)g)",
    )


def build_parser() -> argparse.ArgumentParser:
    return _build()[0]


def _build() -> tuple[_Parser, dict[str, _Parser]]:
    """The parser, and each mode's own."""
    parser = _Parser(
        prog="ingest-loadgen",
        description="Simulated vehicles and meters against the ingestion engine, verified."
        " Each mode has its own --help.",
        epilog=_EPILOG,
        allow_abbrev=False,
    )
    modes = parser.add_subparsers(dest="mode", required=True, metavar="MODE")
    common = _common()
    subs: dict[str, _Parser] = {}
    for mode, summary in _MODES.items():
        sub = subs[mode] = modes.add_parser(
            mode,
            parents=[common],
            help=summary,
            description=f"{mode}: {summary}.",
            epilog=_EPILOG,
            allow_abbrev=False,
        )
        # Every mode's namespace has every mode's settings, those of other modes None.
        sub.set_defaults(**dict.fromkeys(("hours", "duration_s", "rate")))
        if mode == "replay":
            sub.add_argument(
                "--hours",
                type=_positive(int),
                default=24,
                help="the past window to simulate (default: %(default)s)",
            )
        else:
            _duration(sub)
        if mode == "rate":
            sub.add_argument(
                "--rate", type=_positive(float), required=True, help="readings per second"
            )
    return parser, subs


def _refuse_strays(
    parser: argparse.ArgumentParser,
    subs: Mapping[str, argparse.ArgumentParser],
    args: argparse.Namespace,
    strays: Sequence[str],
) -> None:
    option = next((item.split("=", 1)[0] for item in strays if item.startswith("-")), None)
    modes = [mode for mode, sub in subs.items() if option in sub._option_string_actions]
    if option is None or not modes:
        parser.error(f"unrecognized arguments: {' '.join(strays)}")
    parser.error(f"{option} does not apply to {args.mode} (only to {' and '.join(modes)})")


def parse(argv: Sequence[str], environ: Mapping[str, str] | None = None) -> argparse.Namespace:
    """Parsed and checked; a usage error exits 2 with one line (argparse's way)."""
    parser, subs = _build()
    if argv and argv[0].startswith("-") and argv[0] not in {"-h", "--help"}:
        parser.error(f"options go after the mode: ingest-loadgen MODE {argv[0]} ...")
    args, strays = parser.parse_known_args(argv)
    if strays:
        _refuse_strays(subs[args.mode], subs, args, strays)
    if args.token is None:
        args.token = (os.environ if environ is None else environ).get(TOKEN_VARIABLE) or None
    if args.token is not None and not re.fullmatch(r"[!-~]+", args.token):
        parser.error(f"--token (or {TOKEN_VARIABLE}) must be printable ASCII without spaces")
    if args.verify_sample is not None:
        args.verify = True
    for option, path in (("--json", args.json), ("--ack-log", args.ack_log)):
        if path is not None and not path.parent.is_dir():
            parser.error(f"{option} {path}: the directory {path.parent} does not exist")
    return args
