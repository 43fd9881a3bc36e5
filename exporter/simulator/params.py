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
    params: Mapping[str, Any], name: str, default: int | None, low: int, high: int
) -> int:
    """An integer in [low, high]; ``default`` when absent, or MissingParameter without one."""
    value = params.get(name)
    if value is None:
        if default is None:
            raise missing_parameter(name)
        return default
    if isinstance(value, bool) or not isinstance(value, int):
        raise invalid_value(name, f"expected an integer, got {value!r}")
    if not low <= value <= high:
        raise invalid_value(name, f"{value} is out of range [{low}, {high}]")
    return value
