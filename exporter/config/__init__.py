"""Configuration: pydantic models, YAML loading, ${ENV} interpolation, one-line errors.

- ``fields``: limits and field types (durations, label names, stream names);
- ``accounts``: ``Account`` and its ``Credentials``;
- ``models``: ``Config``, ``Target``, ``StreamEntry``, ``CallbackSettings``;
- ``quality``: a stream's push-quality thresholds (``Quality``);
- ``families``: which metric families are exposed (``MetricsSettings``);
- ``checks``: the checks that combine several keys, run on the raw tree;
- ``errors``: pydantic errors as one-line problems at key paths, secrets never echoed;
- ``loader``: reading the file, YAML, ${ENV} interpolation, ``parse_config``/``load_config``;
- ``summary``: ``summarize`` for ``--config.check``.
"""

from __future__ import annotations

from exporter.config.accounts import Account, Credentials
from exporter.config.families import MetricsSettings
from exporter.config.fields import (
    DEFAULT_BUDGET_FRACTION,
    DEFAULT_CALLBACK_PATH,
    DEFAULT_MAX_STREAMS,
    MAX_API_LIMIT,
    MAX_INTERVAL,
    MAX_PAGE_SIZE,
    MAX_STREAM_NAME,
    MAX_TIMEOUT,
    MAX_WORKERS,
    MIN_INTERVAL,
    MIN_ROUND_ADVISED,
    RESERVED_LABEL_NAMES,
    Duration,
    LabelName,
    Labels,
)
from exporter.config.loader import ConfigError, load_config, parse_config
from exporter.config.models import CallbackSettings, Config, StreamEntry, Target
from exporter.config.summary import summarize
from exporter.durations import parse_duration
from exporter.safefile import DEFAULT_MAX_BYTES

__all__ = [
    "DEFAULT_BUDGET_FRACTION",
    "DEFAULT_CALLBACK_PATH",
    "DEFAULT_MAX_BYTES",
    "DEFAULT_MAX_STREAMS",
    "MAX_API_LIMIT",
    "MAX_INTERVAL",
    "MAX_PAGE_SIZE",
    "MAX_STREAM_NAME",
    "MAX_TIMEOUT",
    "MAX_WORKERS",
    "MIN_INTERVAL",
    "MIN_ROUND_ADVISED",
    "RESERVED_LABEL_NAMES",
    "Account",
    "CallbackSettings",
    "Config",
    "ConfigError",
    "Credentials",
    "Duration",
    "LabelName",
    "Labels",
    "MetricsSettings",
    "StreamEntry",
    "Target",
    "load_config",
    "parse_config",
    "parse_duration",
    "summarize",
]
