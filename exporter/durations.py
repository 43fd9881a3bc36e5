"""Prometheus-style durations ("90s", "1m30s", "500ms") parsed to and formatted from seconds.

One grammar for every file the project reads: the exporter's config uses Prometheus' own; the
simulator's scenarios (``fractions=True``) also accept decimal amounts such as "1.5m" or
"0.5s", which its timelines have always used and which Go's time.ParseDuration accepts too.
"""

from __future__ import annotations

import math
import re

# Prometheus' own grammar: integer amounts, units from largest to smallest, each at most once.
# Fractions like "1.5m" are refused there too, so configs stay portable between the two.
_UNITS: tuple[tuple[str, float], ...] = (
    ("y", 365 * 86400.0),
    ("w", 7 * 86400.0),
    ("d", 86400.0),
    ("h", 3600.0),
    ("m", 60.0),
    ("s", 1.0),
    ("ms", 0.001),
)
_DURATION_RE = re.compile("".join(rf"(?:(?P<{unit}>\d+){unit})?" for unit, _ in _UNITS))
_FRACTIONAL_RE = re.compile("".join(rf"(?:(?P<{unit}>\d+(?:\.\d+)?){unit})?" for unit, _ in _UNITS))
_PLAIN_NUMBER_RE = re.compile(r"\d+(?:\.\d+)?")


def parse_duration(value: str | int | float, *, fractions: bool = False) -> float:
    """Return the duration in seconds; plain numbers (or numeric strings) are seconds.

    ``fractions`` also accepts decimal amounts ("1.5m"). Raises ValueError for anything else,
    including negative, infinite and boolean values.
    """
    # bool is an int subclass; YAML turns "yes"/"on" into True, which is never a duration.
    if isinstance(value, bool):
        raise ValueError(f"invalid duration {value!r}")
    if isinstance(value, int | float):
        seconds = float(value)
        if math.isnan(seconds) or math.isinf(seconds) or seconds < 0:
            raise ValueError(f"invalid duration {value!r}")
        return seconds
    if not isinstance(value, str):
        raise ValueError(f"invalid duration of type {type(value).__name__}")
    text = value.strip()
    if _PLAIN_NUMBER_RE.fullmatch(text):
        return float(text)
    match = (_FRACTIONAL_RE if fractions else _DURATION_RE).fullmatch(text)
    # The all-optional pattern also matches "", which must not mean zero.
    if not text or match is None:
        raise ValueError(f"invalid duration {value!r}")
    return sum(
        (float(amount) if fractions else int(amount)) * factor
        for (unit, factor) in _UNITS
        if (amount := match.group(unit)) is not None
    )


def format_duration(seconds: float) -> str:
    """Format seconds the way Prometheus does ("1m30s", "500ms", "0s"), for messages and logs."""
    if seconds <= 0:
        return "0s"
    millis = round(seconds * 1000)
    if millis == 0:
        # Sub-millisecond values would otherwise print as "0s" and hide that they are set.
        return f"{seconds:g}s"
    parts: list[str] = []
    for unit, factor in _UNITS:
        unit_ms = round(factor * 1000)
        amount, millis = divmod(millis, unit_ms)
        if amount:
            parts.append(f"{amount}{unit}")
    return "".join(parts)
