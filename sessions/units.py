"""Numbers and times as a person reads them, said one way everywhere (the command line,
the worker list, the status bar): token counts, ages, elapsed times. Built on humanize.
"""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

import humanize


def tokens(n: int | None) -> str:
    """980, 2.5k, 12k, 1.2M; '-' for none."""
    if not n:
        return "-"
    return str(n) if n < 1000 else humanize.metric(n, precision=2).replace(" ", "")


def spend(budget: dict[str, Any]) -> str:
    """A budget's spend against its ceilings: '10k/6.0k tokens · $0.42/$5.00' (a budget as
    budgets.py publishes it)."""
    parts = []
    if budget.get("ceiling_tokens"):
        parts.append(f"{tokens(budget.get('tokens') or 0)}/{tokens(int(budget['ceiling_tokens']))} tokens")
    if budget.get("ceiling_usd"):
        parts.append(f"${float(budget.get('usd') or 0):.2f}/${float(budget['ceiling_usd']):.2f}")
    return " · ".join(parts)


def _when(iso: str | None) -> datetime | None:
    if not iso:
        return None
    try:
        return datetime.fromisoformat(iso)
    except ValueError:
        return None


def epoch(iso: str | None) -> float | None:
    """Seconds since 1970 of an ISO 8601 time (None for none or unreadable)."""
    then = _when(iso)
    return then.timestamp() if then is not None else None


def ago(iso: str | None, now: datetime | None = None) -> str:
    """'a minute ago', '3 hours ago' (sentences: the command line's tables)."""
    then = _when(iso)
    if then is None:
        return "-" if not iso else str(iso)
    return humanize.naturaltime((now or datetime.now(timezone.utc)) - then)


def compact(seconds: float) -> str:
    """12s, 3m05s, 2h07m, 4d: narrow table columns that tick every second."""
    s = max(0, int(seconds))
    if s < 60:
        return f"{s}s"
    if s < 3600:
        return f"{s // 60}m{s % 60:02d}s"
    if s < 86400:
        return f"{s // 3600}h{s % 3600 // 60:02d}m"
    return f"{s // 86400}d"


def age(iso: str | None, now: datetime) -> str:
    """How long ago `iso` was, compact; '-' for never, '?' for unreadable."""
    then = _when(iso)
    if then is None:
        return "-" if not iso else "?"
    return compact((now - then).total_seconds())


def elapsed(worker: dict[str, Any], now: datetime) -> str:
    """How long a worker ran (until it ended) or has been running, compact."""
    start = _when(worker.get("started"))
    if start is None:
        return "-"
    end = _when(worker.get("ended")) or now
    return compact((end - start).total_seconds())
