"""Request parameter readers shared by the simulated actions, with the real API's error codes."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from exporter.simulator.errors import ApiError, invalid_value, missing_parameter


def only(params: Mapping[str, Any], allowed: set[str]) -> None:
    """UnknownParameter for any parameter the action does not take."""
    for name in params:
        if name not in allowed:
            raise ApiError("UnknownParameter", f"The parameter `{name}` is not recognized.")


def int_param(
    params: Mapping[str, Any], name: str, default: int | None, low: int, high: int | None
) -> int:
    """An integer in [low, high] (no upper bound when ``high`` is None); ``default`` when
    absent, or MissingParameter without one."""
    value = params.get(name)
    if value is None:
        if default is None:
            raise missing_parameter(name)
        return default
    if isinstance(value, bool) or not isinstance(value, int):
        raise invalid_value(name, f"expected an integer, got {value!r}")
    if value < low or (high is not None and value > high):
        bound = f"[{low}, {high}]" if high is not None else f">= {low}"
        raise invalid_value(name, f"{value} is out of range {bound}")
    return value


def pages(total: int, size: int) -> int:
    """TotalPage for ``total`` items in pages of ``size`` (0 when there are none)."""
    return -(-total // size) if total else 0
