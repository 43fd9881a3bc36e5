"""Which metric families are exposed (``metrics``: allow and deny lists of family patterns).

Apart from the models of what is polled: these settings filter only what is exposed, at render
and in the series estimate of ``--config.check`` (exporter/exposition/filter.py).
"""

from __future__ import annotations

import re
from typing import Annotated

from pydantic import AfterValidator, BaseModel, ConfigDict, Field

from exporter.config.fields import invalid
from exporter.problems import show

__all__ = ["FamilyPattern", "MetricsSettings"]

_FAMILY_PATTERN = re.compile(r"[A-Za-z_:*?\[\]!0-9-]+")


def _family_pattern(value: str) -> str:
    if not _FAMILY_PATTERN.fullmatch(value):
        raise invalid(
            "not a metric family name or pattern {value} (e.g."
            " tencent_live_stream_push_* or tencent_live_stream_viewers)",
            show(value),
        )
    return value


FamilyPattern = Annotated[str, AfterValidator(_family_pattern)]


class MetricsSettings(BaseModel):
    """Which metric families are exposed (exporter/exposition/filter.py): shell-style patterns
    of family names as the text format has them (counters end in _total)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    allow: list[FamilyPattern] = Field(default_factory=list)  # [] allows every family
    deny: list[FamilyPattern] = Field(default_factory=list)
