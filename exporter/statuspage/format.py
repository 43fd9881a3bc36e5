"""How values are written on the status page: escaped text, UTC and relative times, numbers."""

from __future__ import annotations

import html
import math
from datetime import datetime, timezone

__all__ = ["duration", "esc", "number", "relative_time", "span", "time_cell", "utc"]


def esc(value: object) -> str:
    return html.escape(str(value), quote=True)


def utc(t: float) -> str:
    try:
        return datetime.fromtimestamp(t, tz=timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC")
    except (OverflowError, OSError, ValueError):
        return str(t)


def span(seconds: float) -> str:
    """A duration the way people say it: 42s, 5m, 3h 5m, 2d 4h."""
    if not math.isfinite(seconds):
        return "?"
    s = int(seconds)
    if s < 60:
        return f"{s}s"
    if s < 3600:
        return f"{s // 60}m"
    if s < 86400:
        h, m = divmod(s // 60, 60)
        return f"{h}h {m}m" if m else f"{h}h"
    d, h = divmod(s // 3600, 24)
    return f"{d}d {h}h" if h else f"{d}d"


def relative_time(t: float, now: float) -> str:
    """``5m ago`` for a time before ``now``; ``in 5s`` for one after it (clock skew)."""
    delta = now - t
    if not math.isfinite(delta):
        return "?"
    if delta < 0:
        return f"in {span(-delta)}"
    return f"{span(delta)} ago"


def time_cell(t: float | None, now: float, missing: str = "—") -> str:
    """Relative time, with the absolute UTC time underneath (both escaped)."""
    if t is None:
        return f'<span class="muted">{esc(missing)}</span>'
    return (
        f'<span class="rel">{esc(relative_time(t, now))}</span>'
        f'<span class="abs">{esc(utc(t))}</span>'
    )


def number(x: float) -> str:
    if not math.isfinite(x):
        return str(x)
    text = f"{x:,.2f}".rstrip("0").rstrip(".")
    return "0" if text == "-0" else text


def duration(x: float) -> str:
    """An interval or back-off, exactly: 12.5s, 45s, 1m 30s, 2h."""
    if not math.isfinite(x):
        return str(x)
    if x < 60 or x != int(x):
        return f"{number(x)}s"
    s = int(x)
    parts = [(s // 86400, "d"), (s % 86400 // 3600, "h"), (s % 3600 // 60, "m"), (s % 60, "s")]
    return " ".join(f"{n}{unit}" for n, unit in parts if n)
