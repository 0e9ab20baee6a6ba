"""What a person reads: what a run is about to do, live progress lines while it runs, and the
summary at the end (also as data for ``--json``)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from loadgen.results.stats import Stats
from loadgen.results.verify import Verification


def duration(seconds: float) -> str:
    """``2.5 s``, ``30 s``, ``1 min 30 s``, ``2 h 5 min``: what a person says, never
    "1 minutes" for half of one."""
    whole = round(seconds)
    if seconds < 10:
        return f"{seconds:.1f} s"
    if whole < 60:
        return f"{whole} s"
    hours, rest = divmod(whole, 3600)
    minutes, secs = divmod(rest, 60)
    parts = [f"{hours} h" if hours else "", f"{minutes} min" if minutes else ""]
    if not hours and secs:
        parts.append(f"{secs} s")
    return " ".join(part for part in parts if part)


def count(number: int, noun: str, plural: str | None = None) -> str:
    return f"{number:,} {noun if number == 1 else plural or noun + 's'}"


def _ms(seconds: float | None) -> str:
    return "-" if seconds is None else f"{seconds * 1000:.1f} ms"


def start_line(
    mode: str,
    *,
    sites: int,
    t0: datetime,
    minutes: int,
    duration_s: float,
    rate: float | None,
    batch: int,
    in_flight: str,
) -> str:
    sending = "single posts" if batch <= 0 else f"batches of {batch:,}"
    if mode == "replay":
        what = f"{duration(minutes * 60)} of history from {t0:%Y-%m-%d %H:%M} UTC"
    elif mode == "realtime":
        what = (
            f"for {duration(duration_s)}: every reading of a minute on its boundary,"
            f" {count(minutes, 'burst')} from {t0:%H:%M} UTC"
        )
    else:
        what = f"{rate:,g} readings/s for {duration(duration_s)}"
    return f"{mode}: {count(sites, 'site')}, {what}; {sending}, {in_flight}"


def progress_line(stats: Stats, elapsed_s: float, acked_per_s: float) -> str:
    errors = stats.unexpected + stats.transport_errors
    return (
        f"[{elapsed_s:7.1f} s] sent {stats.readings_sent:,} acked {stats.readings_acked:,}"
        f" ({acked_per_s:,.0f}/s) retries {stats.retries:,} errors {errors:,}"
        f" p50 {_ms(stats.percentile(0.5))} p99 {_ms(stats.percentile(0.99))}"
    )


def _share(done: int, total: int) -> str:
    return f"{done:,} of {total:,} sites ({100 * done // max(total, 1)}%)"


def linking_line(linked: int, total: int) -> str:
    return f"linking: {_share(linked, total)}"


def verifying_line(verification: Verification) -> str:
    return (
        f"verifying: {_share(verification.done, verification.planned)},"
        f" {count(verification.mismatch_count, 'mismatch', 'mismatches')}"
    )


def _per_s(readings: int, seconds: float) -> float:
    return round(readings / seconds, 1) if seconds > 0 else 0.0


def summary(stats: Stats, verification: Verification | None) -> dict[str, Any]:
    burst_rate = stats.burst_rate()
    out: dict[str, Any] = {
        "elapsed_s": round(stats.elapsed_s, 3),
        "window_s": round(stats.window_s, 3),
        "readings_sent": stats.readings_sent,
        "readings_acked": stats.readings_acked,
        "readings_per_s": _per_s(stats.readings_acked, stats.window_s),
        "readings_per_s_overall": _per_s(stats.readings_acked, stats.elapsed_s),
        "bursts": None
        if burst_rate is None
        else {
            "count": len(stats.burst_s),
            "readings_per_s": round(burst_rate, 1),
            "longest_s": round(max(stats.burst_s.values()), 3),
        },
        "requests": stats.requests,
        "retries": stats.retries,
        "transport_errors": stats.transport_errors,
        "unexpected": stats.unexpected,
        "faults_rejected": stats.faults_rejected,
        "latency_ms": {
            name: None if value is None else round(value * 1000, 2)
            for name, value in (
                ("p50", stats.percentile(0.5)),
                ("p95", stats.percentile(0.95)),
                ("p99", stats.percentile(0.99)),
                ("max", stats.latency_max_s if stats.requests else None),
            )
        },
        "statuses": dict(sorted(stats.statuses.items())),
    }
    if verification is not None:
        out["verification"] = verification.to_json()
    return out


def table(result: dict[str, Any]) -> str:
    latency = result["latency_ms"]
    rows = [
        ("readings sent", f"{result['readings_sent']:,}"),
        ("readings acknowledged", f"{result['readings_acked']:,}"),
        ("run time", duration(result["elapsed_s"])),
        ("sending window", duration(result["window_s"])),
        ("readings per second, sending window", f"{result['readings_per_s']:,.1f}"),
    ]
    bursts = result["bursts"]
    if bursts is not None:
        rows += [
            ("bursts", f"{bursts['count']:,}"),
            ("readings per second, in bursts", f"{bursts['readings_per_s']:,.1f}"),
            ("longest burst", duration(bursts["longest_s"])),
            ("readings per second, whole run time", f"{result['readings_per_s_overall']:,.1f}"),
        ]
    rows += [
        ("requests", f"{result['requests']:,}"),
        *((f"latency {name}", "-" if v is None else f"{v:,.1f} ms") for name, v in latency.items()),
        *((f"responses {status}", f"{count:,}") for status, count in result["statuses"].items()),
        ("retries", f"{result['retries']:,}"),
        ("transport errors", f"{result['transport_errors']:,}"),
        ("unexpected answers", f"{result['unexpected']:,}"),
        ("injected faults refused", f"{result['faults_rejected']:,}"),
    ]
    verification = result.get("verification")
    if verification is not None:
        rows += [
            ("sites to verify", f"{verification['planned']:,}"),
            ("sites verified", f"{verification['checked']:,}"),
            ("sites unverifiable", f"{verification['unverifiable']:,}"),
            ("mismatches", f"{verification['mismatch_count']:,}"),
        ]
    width = max(len(name) for name, _ in rows)
    lines = [f"{name:<{width}}  {value:>16}" for name, value in rows]
    if verification is not None:
        lines += [
            f"  mismatch: {m['device']}: {m['what']}: expected {m['expected']!r}, got {m['got']!r}"
            for m in verification["mismatches"][:20]
        ]
    return "\n".join(lines)
