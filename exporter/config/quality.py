"""The push-quality thresholds of a stream (``quality``), for the "on air but broken" rules.

Apart from ``expect_live``: a threshold says how bad an announced stream may get, not when it
should be on air, and a target's thresholds are inherited key by key (``Quality.over``).
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BaseModel, BeforeValidator, ConfigDict, field_validator

from exporter.config.fields import invalid, not_bool

__all__ = ["Quality"]


def _ratio(value: float | None) -> float | None:
    if value is not None and not 0 < value <= 1:
        raise invalid(
            "must be a share between 0 and 1 (e.g. 0.5 for half), got {value}", f"{value:g}"
        )
    return value


class Quality(BaseModel):
    """Push-quality thresholds of the "on air but broken" rules; unset ones take the rules'
    defaults (docs/runbook.md). Exported per stream, so that the rules read them."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    min_video_bitrate_ratio: Annotated[float | None, BeforeValidator(not_bool)] = None
    min_frame_rate_ratio: Annotated[float | None, BeforeValidator(not_bool)] = None
    max_push_restarts: Annotated[int | None, BeforeValidator(not_bool)] = None  # per hour

    @field_validator("min_video_bitrate_ratio", "min_frame_rate_ratio")
    @classmethod
    def _share(cls, value: float | None) -> float | None:
        return _ratio(value)

    @field_validator("max_push_restarts")
    @classmethod
    def _restarts(cls, value: int | None) -> int | None:
        if value is not None and not 0 <= value <= 1000:
            raise invalid(
                "must be between 0 and 1000 (push restarts per hour), got {value}", str(value)
            )
        return value

    def over(self, base: Quality | None) -> Quality:
        """These thresholds, with what ``base`` (the target's) sets where these are unset."""
        if base is None:
            return self
        return Quality(
            min_video_bitrate_ratio=_first(
                self.min_video_bitrate_ratio, base.min_video_bitrate_ratio
            ),
            min_frame_rate_ratio=_first(self.min_frame_rate_ratio, base.min_frame_rate_ratio),
            max_push_restarts=_first(self.max_push_restarts, base.max_push_restarts),
        )


def _first(a: Any, b: Any) -> Any:
    return a if a is not None else b
