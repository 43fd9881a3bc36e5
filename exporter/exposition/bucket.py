"""One bucket's text: every family's lines for a few hundred streams, from their statuses, push
and viewer values, what they are watched for and their history. Pure; the cache (``cache.py``)
gathers the inputs under its lock and calls this without it."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

from exporter.broadcast import Watch
from exporter.exposition.families import (
    STREAM_FAMILIES,
    LabelPairs,
    escape_label_value,
    format_labels,
    render_stream,
)
from exporter.exposition.watch import WATCH_FAMILIES, Evaluate, render_watch
from exporter.history import StreamHistory
from exporter.model import StreamKey
from exporter.state import StreamStatus

# How the renderer reads the statuses of a bucket's streams (the store's get_many).
StatusReader = Callable[[list[StreamKey]], list[StreamStatus | None]]

# Every per-stream family, in the order the exposition lists them.
ALL_FAMILIES = tuple(sorted((*STREAM_FAMILIES, *WATCH_FAMILIES), key=lambda f: f.name))


@dataclass(frozen=True, slots=True)
class StreamMeta:
    """What a stream is exposed with beyond its key; shared by the streams of a target."""

    extra: LabelPairs  # the labels beyond account/domain/app/stream
    down_after: float | None
    suffix: str  # ``extra`` formatted, with its leading comma: ready to render
    watch: Watch | None = None  # its schedule and quality thresholds
    expect: str | None = None  # its expect_live label


def render_bucket(
    keys: list[StreamKey],
    metas: Sequence[StreamMeta],
    push: Mapping[StreamKey, bytes],
    read: StatusReader,
    playback: Mapping[StreamKey, bytes] | None,
    histories: Sequence[StreamHistory | None],
    evaluate: Evaluate,
) -> dict[str, bytes]:
    statuses = read(keys)
    lines: dict[str, list[str]] = {f.name: [] for f in ALL_FAMILIES}
    # A bucket's streams nearly all share account, domain and app: escape those once.
    prefixes: dict[tuple[str, str, str], str] = {}
    for key, meta, status, history in zip(keys, metas, statuses, histories, strict=True):
        if status is None:
            continue
        where = (key.account, key.domain, key.app)
        prefix = prefixes.get(where)
        if prefix is None:
            prefix = prefixes[where] = format_labels(
                (("account", key.account), ("domain", key.domain), ("app", key.app))
            )
        labels = f'{prefix},stream="{escape_label_value(key.stream)}"{meta.suffix}'
        play = playback.get(key) if playback else None
        render_stream(lines, labels, status, meta.down_after, push.get(key), play)
        if meta.expect is not None or meta.watch is not None or history is not None:
            render_watch(lines, labels, meta.expect, meta.watch, meta.down_after, evaluate, history)
    # "replace": a lone surrogate from an API answer (JSON allows \ud800) must not stop the render.
    return {
        name: "".join(parts).encode("utf-8", "replace") for name, parts in lines.items() if parts
    }
