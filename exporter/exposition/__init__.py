"""The /metrics body: per-stream families (``families``) cached per bucket (``cache``)."""

from exporter.exposition.cache import (
    BUCKET_SIZE,
    KEEP_TEXT_STREAMS,
    Exposition,
    StatusReader,
)
from exporter.exposition.families import (
    DOWN_AFTER,
    ERRORS,
    LAST_CHANGE,
    PUSH_INFO,
    PUSH_VALUES,
    STATE,
    STREAM_FAMILIES,
    Family,
    LabelPairs,
    escape_label_value,
    format_labels,
    pack_push,
    render_stream,
    split_families,
    unpack_push,
)

__all__ = [
    "BUCKET_SIZE",
    "DOWN_AFTER",
    "ERRORS",
    "KEEP_TEXT_STREAMS",
    "LAST_CHANGE",
    "PUSH_INFO",
    "PUSH_VALUES",
    "STATE",
    "STREAM_FAMILIES",
    "Exposition",
    "Family",
    "LabelPairs",
    "StatusReader",
    "escape_label_value",
    "format_labels",
    "pack_push",
    "render_stream",
    "split_families",
    "unpack_push",
]
