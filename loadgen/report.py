"""What a person reads: a live progress line while running, and the summary at the end."""

from __future__ import annotations

from typing import Any

from loadgen.stats import Stats
from loadgen.verify import Verification


def _ms(seconds: float | None) -> str:
    return "-" if seconds is None else f"{seconds * 1000:.1f} ms"


def progress_line(stats: Stats, elapsed_s: float, acked_per_s: float) -> str:
    errors = stats.unexpected + stats.transport_errors
    return (
        f"[{elapsed_s:7.1f} s] sent {stats.readings_sent:,} acked {stats.readings_acked:,}"
        f" ({acked_per_s:,.0f}/s) retries {stats.retries:,} errors {errors:,}"
        f" p50 {_ms(stats.percentile(0.5))} p99 {_ms(stats.percentile(0.99))}"
    )


def summary(stats: Stats, elapsed_s: float, verification: Verification | None) -> dict[str, Any]:
    out: dict[str, Any] = {
        "elapsed_s": round(elapsed_s, 3),
        "readings_sent": stats.readings_sent,
        "readings_acked": stats.readings_acked,
        "readings_per_s": round(stats.readings_acked / elapsed_s, 1) if elapsed_s else 0.0,
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
        ("readings per second", f"{result['readings_per_s']:,.1f}"),
        ("elapsed", f"{result['elapsed_s']:,.1f} s"),
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
