"""The /metrics body: per-stream families rendered when a stream changes, joined on scrape.

A collector that builds every stream's families on each scrape costs seconds at 100k streams.
Here streams live in sorted buckets of a few hundred; a change marks its bucket dirty, a
background flush re-renders dirty buckets into one gzip member per family, and a scrape only
concatenates cached bytes. Concatenated gzip members are one valid gzip stream (RFC 1952
section 2.2), so a compressed scrape (what Prometheus asks for) costs no compression at all.
Up to KEEP_TEXT_STREAMS streams the text is kept too; beyond, only the compressed form is (at
100k streams the text is ~150 MB, its gzip ~5 MB) and an uncompressed scrape inflates the
members as it sends them.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable, Mapping
from operator import itemgetter

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.openmetrics.exposition import generate_latest as generate_openmetrics

from exporter.broadcast import Watch
from exporter.courtesy import breathe, slices
from exporter.exposition.bucket import ALL_FAMILIES, StreamMeta, render_bucket
from exporter.exposition.bucket import StatusReader as StatusReader  # re-exported
from exporter.exposition.families import LabelPairs, format_labels, pack_push, split_families
from exporter.exposition.filter import MetricFilter, Visible
from exporter.exposition.index import BUCKET_SIZE, Bucket, BucketIndex
from exporter.exposition.join import gzip_member, join
from exporter.exposition.watch import ScheduleEdges, evaluator
from exporter.history import History
from exporter.model import PushInfo, StreamKey

# A stream as membership hands it over: key, labels, down_after, and optionally its Watch.
StreamItem = (
    tuple[StreamKey, LabelPairs, float | None]
    | tuple[StreamKey, LabelPairs, float | None, Watch | None]
)

KEEP_TEXT_STREAMS = 25_000  # above this, plain scrapes inflate gzip instead of caching text
RELABEL_SLICE = 2_000  # streams relabelled per hold of the lock on a reload (about 2 ms)

__all__ = ["BUCKET_SIZE", "KEEP_TEXT_STREAMS", "Bucket", "Exposition", "StatusReader"]


class Exposition:
    """Cached text of the per-stream families, plus the registry for everything else."""

    def __init__(
        self,
        registry: CollectorRegistry,
        extra: Callable[[], str] | None = None,
        dirty: threading.Event | None = None,
        wall: Callable[[], float] = time.time,
        history: History | None = None,
    ) -> None:
        """Lock order: the exposition's lock is a leaf but for the history's and the schedule
        edges' (leaves too, never calling back while held). Statuses are not read from the
        store here: the renderer passes a reader to ``flush``. ``dirty`` is set whenever a
        bucket needs rendering (the renderer waits on it). ``wall`` is the clock schedules are
        evaluated at; ``history`` the per-stream history rendered (its changes mark here)."""
        self._wall = wall
        self.history = history if history is not None else History(started=wall())
        self.history.bind(self.mark)
        self._edges = ScheduleEdges()
        self._registry = registry
        self._extra = extra
        self._lock = threading.Lock()
        self._flush_lock = threading.Lock()
        self._meta: dict[StreamKey, StreamMeta] = {}
        self._specs: dict[tuple[LabelPairs, float | None, Watch | None], StreamMeta] = {}
        # Packed by pack_push; None once a stream stops pushing. Streams going on and off air
        # set and clear their entry rather than deleting and re-adding it: every insertion
        # takes a fresh slot of the dict's entry table, whose pages (5-10 MB at 100k streams)
        # become resident one by one until the next resize, so with thousands of streams
        # starting every minute RSS crept up by MBs between resizes (benchmarks/memory.py).
        self._push: dict[StreamKey, bytes | None] = {}
        # Packed by pack_playback (viewers of streams on a play domain's push domains); None
        # once no play domain serves the stream (set and cleared, as the push values are).
        self._playback: dict[StreamKey, bytes | None] = {}
        self._dirty_event = dirty if dirty is not None else threading.Event()
        self._buckets = BucketIndex(self._wake)  # under self._lock
        self._enabled = MetricFilter()  # the config's metrics allow/deny lists

    def set_filter(self, enabled: MetricFilter) -> bool:
        """Expose only the families ``enabled`` allows; re-renders everything when it changed.
        A denied per-stream family is dropped at render: its text is not kept at all."""
        with self._lock:
            if enabled == self._enabled:
                return False
            self._enabled = enabled
            self._buckets.mark_all()
            return True

    def family_names(self) -> list[str]:
        """Every family this exposition can have, named as in the text format."""
        names = {f.name for f in ALL_FAMILIES}
        names.update(split_families(generate_latest(self._registry).decode()))
        if self._extra is not None:
            names.update(split_families(self._extra()))
        return sorted(names)

    # -- membership and changes (any thread) -----------------------------------------------

    def _wake(self) -> None:
        # Event.set takes a lock and notifies: 100k of them cost seconds in a list round.
        if not self._dirty_event.is_set():
            self._dirty_event.set()

    def _spec(
        self, extra: LabelPairs, down_after: float | None, watch: Watch | None = None
    ) -> StreamMeta:
        """The shared meta for these labels (callers hold the lock)."""
        meta = self._specs.get((extra, down_after, watch))
        if meta is None:
            if len(self._specs) > 2 * len(self._meta) + 1024:
                # Reloads changed labels: forget the combinations no stream uses any more.
                self._specs = {(m.extra, m.down_after, m.watch): m for m in self._meta.values()}
                self._edges.keep(
                    m.watch.schedule for m in self._specs.values() if m.watch and m.watch.schedule
                )
            suffix = f",{format_labels(extra)}" if extra else ""
            expect = next((v for k, v in extra if k == "expect_live"), None)
            meta = StreamMeta(extra, down_after, suffix, watch, expect)
            self._specs[(extra, down_after, watch)] = meta
            if watch is not None and watch.schedule is not None:
                self._edges.track(watch.schedule)
        return meta

    def set_stream(
        self,
        key: StreamKey,
        extra: LabelPairs,
        down_after: float | None,
        watch: Watch | None = None,
    ) -> None:
        """Track a stream (or change its labels); ``extra`` are the labels after ``stream``."""
        with self._lock:
            meta = self._spec(extra, down_after, watch)
            known = key in self._meta
            if known and self._meta[key] == meta:
                return
            self._meta[key] = meta
            if known:
                self._buckets.mark(self._buckets.of(key))
            else:
                self._buckets.insert(key)

    def set_streams(self, streams: Iterable[StreamItem]) -> None:
        """Bulk load (startup, reload): builds full buckets in one pass when starting empty; on a
        reload, streams already here only get their new labels (no search per stream: at 100k
        streams that is a second), a slice at a time: a scrape waits for one slice's lock, not
        for the whole 100-200 ms of a relabelling."""
        with self._lock:
            if not self._meta:
                items = sorted(streams, key=itemgetter(0))
                # The streams of a target share their label tuple: one _spec lookup (which
                # hashes the whole tuple) per distinct one, not one per stream.
                same: dict[tuple[int, float | None, int], StreamMeta] = {}
                for key, extra, down_after, *watch in items:
                    shared = (id(extra), down_after, id(watch[0]) if watch else 0)
                    meta = same.get(shared)
                    if meta is None:
                        meta = same[shared] = self._spec(extra, down_after, *watch)
                    self._meta[key] = meta
                self._buckets.load([item[0] for item in items])
                return
        added: list[StreamItem] = []
        for batch in slices(streams, RELABEL_SLICE):
            breathe()
            added += self._relabel(batch)
        for key, extra, down_after, *watch in sorted(added, key=itemgetter(0)):
            self.set_stream(key, extra, down_after, *watch)

    def _relabel(self, items: list[StreamItem]) -> list[StreamItem]:
        """New labels for the streams of ``items`` already here; returns the others."""
        added: list[StreamItem] = []
        changed: list[StreamKey] = []
        with self._lock:
            for item in items:
                key, extra, down_after, *watch = item
                old = self._meta.get(key)
                if old is None:
                    added.append(item)
                    continue
                meta = self._spec(extra, down_after, *watch)
                if meta is not old:
                    self._meta[key] = meta
                    changed.append(key)
            self._buckets.mark_keys(changed, self._meta)
        return added

    def remove_stream(self, key: StreamKey) -> None:
        with self._lock:
            if self._meta.pop(key, None) is None:
                return
            self._push.pop(key, None)
            self._playback.pop(key, None)
            self.history.forget(key)
            self._buckets.remove(key)

    def mark(self, keys: list[StreamKey]) -> None:
        """Mark the buckets of streams whose status changed for re-rendering (cheap)."""
        with self._lock:
            self._buckets.mark_keys(keys, self._meta)

    def schedule_tick(self, now: float) -> int:
        """Re-render the streams whose schedule's answer changed by ``now`` (a window opened or
        closed); returns how many streams. Called once a second: one comparison per distinct
        schedule, and a scan of the streams only at an edge."""
        due = self._edges.due(now)
        if not due:
            return 0
        with self._lock:
            keys = [
                k for k, m in self._meta.items() if m.watch is not None and m.watch.schedule in due
            ]
            self._buckets.mark_keys(keys, self._meta)
        return len(keys)

    def mark_all(self) -> None:
        with self._lock:
            self._buckets.mark_all()

    def set_push(self, updates: Mapping[StreamKey, PushInfo | None]) -> None:
        with self._lock:
            for key, info in updates.items():
                if key not in self._meta:
                    continue
                if info is None:
                    if self._push.get(key) is None:
                        continue
                    self._push[key] = None
                else:
                    packed = pack_push(info)
                    if self._push.get(key) == packed:
                        continue
                    if key not in self._push:
                        key = self._buckets.tracked(key)
                    self._push[key] = packed
                self._buckets.mark(self._buckets.of(key))

    def set_playback(self, updates: Mapping[StreamKey, bytes | None]) -> int:
        """Viewer values (packed by pack_playback; None: none any more); returns how many
        changed. Unchanged values mark nothing, so a minute in which few streams' figures
        moved re-renders few buckets."""
        changed = 0
        with self._lock:
            values = self._playback
            for key, packed in updates.items():
                if key not in self._meta or values.get(key) == packed:
                    continue
                if packed is None and key not in values:
                    continue
                if key not in values:
                    key = self._buckets.tracked(key)
                values[key] = packed
                self._buckets.mark(self._buckets.of(key))
                changed += 1
        return changed

    def playback_keys(self) -> list[StreamKey]:
        """The streams that have viewer values."""
        with self._lock:
            return [k for k, v in self._playback.items() if v is not None]

    def extra_labels(self, key: StreamKey) -> LabelPairs:
        with self._lock:
            meta = self._meta.get(key)
            return meta.extra if meta is not None else ()

    def meta(self, key: StreamKey) -> StreamMeta | None:
        """What the stream is exposed with (labels, down_after, schedule); for the status page."""
        with self._lock:
            return self._meta.get(key)

    def push_keys(self) -> list[StreamKey]:
        """The streams that have push values."""
        with self._lock:
            return [k for k, v in self._push.items() if v is not None]

    def __len__(self) -> int:
        with self._lock:
            return len(self._meta)

    # -- rendering -------------------------------------------------------------------------

    def flush(self, read: StatusReader, blocking: bool = True) -> int:
        """Re-render the dirty buckets with statuses from ``read``; returns how many. Scrapes
        never wait for this."""
        if not self._flush_lock.acquire(blocking=blocking):
            return 0
        try:
            with self._lock:
                todo = self._buckets.take_dirty()
                if not todo:
                    return 0
            keep_text = len(self) <= KEEP_TEXT_STREAMS
            enabled = self._enabled
            evaluate = evaluator(self._wall())
            done = 0
            for bucket in todo:
                breathe()
                # One bucket's inputs at a time: copying every dirty bucket's first would hold
                # a 100k-entry dict of push values for the whole flush.
                with self._lock:
                    keys = list(bucket.keys)
                    metas = [self._meta[k] for k in keys]
                    push = {k: p for k in keys if (p := self._push.get(k)) is not None}
                    play = {k: p for k in keys if (p := self._playback.get(k)) is not None}
                if not keys:
                    continue
                histories = self.history.get_many(keys)
                text = render_bucket(keys, metas, push, read, play, histories, evaluate)
                if not enabled.everything:
                    text = {name: data for name, data in text.items() if enabled(name)}
                packed = {name: gzip_member(data) for name, data in text.items()}
                with self._lock:
                    # A bucket split or emptied meanwhile was re-marked; rendering it is moot.
                    bucket.packed, bucket.text = packed, text if keep_text else None
                done += 1
            return done
        finally:
            self._flush_lock.release()

    def render_chunks(self, openmetrics: bool = False, compressed: bool = False) -> list[bytes]:
        """The exposition as a list of byte chunks to send in order (``join.py``): families
        sorted by name, so the output is stable; with ``compressed``, gzip members."""
        generate = generate_openmetrics if openmetrics else generate_latest
        with self._lock:
            enabled = self._enabled
            buckets = self._buckets.all()
            blocks = [b.packed for b in buckets]
            texts = [b.text for b in buckets]
        registry = self._registry if enabled.everything else Visible(self._registry, enabled)
        families = split_families(generate(registry).decode())
        if self._extra is not None:
            extra = split_families(self._extra())
            families.update((n, t) for n, t in extra.items() if enabled(n))
        streams = [f for f in ALL_FAMILIES if enabled(f.name)]
        return join(families, streams, blocks, texts, openmetrics, compressed)
