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

import bisect
import gzip
import math
import struct
import threading
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.openmetrics.exposition import generate_latest as generate_openmetrics
from prometheus_client.utils import floatToGoString

from exporter.model import ALL_STATES, PushInfo, StreamKey, StreamState
from exporter.state import StreamStatus

LabelPairs = tuple[tuple[str, str], ...]
StatusReader = Callable[[list[StreamKey]], list[StreamStatus | None]]

_CACHED = "Cached from the last poll of the Tencent CSS API (or the last CSS callback)."
_PUSH = "From DescribeLiveStreamPushInfoList, cached from the last poll; active streams only."


@dataclass(frozen=True)
class Family:
    name: str
    kind: str
    help: str

    @property
    def om_name(self) -> str:
        """OpenMetrics names a counter family without its ``_total`` suffix."""
        return self.name.removesuffix("_total") if self.kind == "counter" else self.name

    def header(self, openmetrics: bool = False) -> str:
        name = self.om_name if openmetrics else self.name
        return f"# HELP {name} {self.help}\n# TYPE {name} {self.kind}\n"


STATE = Family(
    "tencent_live_stream_state",
    "gauge",
    "Stream state as a state set: 1 for the current state (active, inactive, forbid, or unknown "
    f"when not yet or no longer confirmed), 0 for the others. {_CACHED}",
)
LAST_CHANGE = Family(
    "tencent_live_stream_last_change_timestamp_seconds",
    "gauge",
    "Unix time at which the stream's state last changed, and the source that changed it "
    f"(stale when nothing confirmed the state any more). {_CACHED}",
)
ERRORS = Family(
    "tencent_live_stream_errors_total",
    "counter",
    "Failed per-stream polls (DescribeLiveStreamState), by Tencent error code or transport "
    "class (Timeout, ConnectionError, HTTPError, BadResponse).",
)
DOWN_AFTER = Family(
    "tencent_live_stream_down_after_seconds",
    "gauge",
    "For streams expected to be live: how long the stream may be inactive before StreamDown "
    "fires (config down_after).",
)


# Prometheus' base unit is the byte (promtool rejects _bits): bitrates are exported / 8.
_BITRATE = "{} bitrate in bytes per second ({} / 8; multiply by 8 for bits/s)"
_BITS_PER_BYTE = 8.0
_PER_BYTE = frozenset(
    {"video_bitrate", "audio_bitrate", "meta_video_bitrate", "meta_audio_bitrate"}
)


def _push_family(suffix: str, what: str) -> Family:
    return Family(f"tencent_live_stream_{suffix}", "gauge", f"{what}. {_PUSH}")


PUSH_VALUES: tuple[tuple[Family, str], ...] = (
    (
        _push_family("video_bytes_per_second", _BITRATE.format("Video", "VideoSpeed")),
        "video_bitrate",
    ),
    (
        _push_family("audio_bytes_per_second", _BITRATE.format("Audio", "AudioSpeed")),
        "audio_bitrate",
    ),
    (_push_family("video_frames_per_second", "Video frame rate (VideoFps)"), "video_fps"),
    (_push_family("audio_frames_per_second", "Audio frame rate (AudioFps)"), "audio_fps"),
    (
        _push_family(
            "metadata_video_bytes_per_second",
            _BITRATE.format("Video", "MetaVideoSpeed, what the encoder announced"),
        ),
        "meta_video_bitrate",
    ),
    (
        _push_family(
            "metadata_audio_bytes_per_second",
            _BITRATE.format("Audio", "MetaAudioSpeed, what the encoder announced"),
        ),
        "meta_audio_bitrate",
    ),
    (
        _push_family("metadata_frames_per_second", "Frame rate the encoder announced (MetaFps)"),
        "meta_fps",
    ),
    (_push_family("video_width_pixels", "Video width (from Resolution)"), "width"),
    (_push_family("video_height_pixels", "Video height (from Resolution)"), "height"),
    (
        _push_family(
            "push_start_timestamp_seconds", "Unix time the current push began (BeginPushTime)"
        ),
        "begin_time",
    ),
)
PUSH_INFO = _push_family(
    "push_info", "Codecs and resolution of the push as labels; the value is always 1"
)

STREAM_FAMILIES: tuple[Family, ...] = tuple(
    sorted(
        (STATE, LAST_CHANGE, ERRORS, DOWN_AFTER, PUSH_INFO, *(f for f, _ in PUSH_VALUES)),
        key=lambda f: f.name,
    )
)

BUCKET_SIZE = 256  # streams per bucket: a change re-renders this many streams at most
KEEP_TEXT_STREAMS = 25_000  # above this, plain scrapes inflate gzip instead of caching text


def escape_label_value(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def format_labels(pairs: LabelPairs) -> str:
    return ",".join(f'{name}="{escape_label_value(value)}"' for name, value in pairs)


def _value(v: float) -> str:
    return floatToGoString(v)


# The state set's four values for each state, in ALL_STATES order.
_FLAGS = {s: tuple("1" if o is s else "0" for o in ALL_STATES) for s in ALL_STATES}


def _render_into(
    lines: dict[str, list[str]],
    labels: str,
    status: StreamStatus,
    down_after: float | None,
    push: bytes | None,
) -> None:
    """Append one stream's lines to each family's list; ``push`` is packed by pack_push."""
    n = STATE.name
    a, i, f, u = _FLAGS[status.state]
    lines[n].append(
        f'{n}{{{labels},state="active"}} {a}\n{n}{{{labels},state="inactive"}} {i}\n'
        f'{n}{{{labels},state="forbid"}} {f}\n{n}{{{labels},state="unknown"}} {u}\n'
    )
    if status.last_change is not None:
        source = escape_label_value(status.change_source or "")
        n = LAST_CHANGE.name
        lines[n].append(f'{n}{{{labels},source="{source}"}} {_value(status.last_change)}\n')
    if status.errors_by_code:
        n = ERRORS.name
        lines[n].append(
            "".join(
                f'{n}{{{labels},code="{escape_label_value(code)}"}} {count}.0\n'
                for code, count in status.errors_by_code
            )
        )
    if down_after is not None:
        lines[DOWN_AFTER.name].append(f"{DOWN_AFTER.name}{{{labels}}} {_value(down_after)}\n")
    if push is None or status.state is not StreamState.ACTIVE:
        return
    numbers, texts = _push_fields(push)
    for (family, attr), value in zip(PUSH_VALUES, numbers, strict=True):
        if value != value:  # NaN: absent
            continue
        if attr in _PER_BYTE:
            value /= _BITS_PER_BYTE
        lines[family.name].append(f"{family.name}{{{labels}}} {_value(value)}\n")
    video, audio, resolution, rate, client_ip, server_ip = texts
    info = [
        ("video_codec", video),
        ("audio_codec", audio),
        ("resolution", resolution),
        ("audio_sample_rate", rate),
    ]
    if client_ip or server_ip:  # only kept for targets with push_info_ips
        info += [("client_ip", client_ip), ("server_ip", server_ip)]
    lines[PUSH_INFO.name].append(f"{PUSH_INFO.name}{{{labels},{format_labels(tuple(info))}}} 1\n")


def split_families(text: str) -> dict[str, str]:
    """Split a text exposition into blocks keyed by family name (each block keeps its lines)."""
    blocks: dict[str, str] = {}
    name = ""
    lines: list[str] = []
    for line in text.splitlines(keepends=True):
        if line.startswith("# EOF"):
            continue
        if line.startswith("# HELP "):
            if lines:
                blocks[name] = "".join(lines)
            name = line.split(" ", 3)[2]
            lines = []
        lines.append(line)
    if lines:
        blocks[name] = "".join(lines)
    return blocks


def _identity(data: bytes) -> bytes:
    return data


def _gzip(data: bytes) -> bytes:
    # Level 1: most of the size win for a fraction of the time; mtime 0 keeps bytes stable.
    return gzip.compress(data, compresslevel=1, mtime=0)


@dataclass
class _Bucket:
    keys: list[StreamKey]
    packed: dict[str, bytes] = field(default_factory=dict)  # family name -> gzip member
    text: dict[str, bytes] | None = None  # the same uncompressed, for small expositions


@dataclass(frozen=True, slots=True)
class _StreamMeta:
    """What a stream is exposed with beyond its key; shared by the streams of a target."""

    extra: LabelPairs  # the labels beyond account/domain/app/stream
    down_after: float | None
    suffix: str  # ``extra`` formatted, with its leading comma: ready to render


# Push values are kept packed: ten doubles (NaN for absent; JSON cannot carry NaN) and the
# label strings, in one bytes object. 50k active streams' PushInfo objects and their floats
# cost ~25 MB; packed they cost a third of that.
_PUSH_NUMBERS = tuple(attr for _, attr in PUSH_VALUES)
_PUSH_TEXTS = (
    "video_codec",
    "audio_codec",
    "resolution",
    "audio_sample_rate",
    "client_ip",
    "server_ip",
)
_PUSH_STRUCT = struct.Struct(f"<{len(_PUSH_NUMBERS)}d")
_NAN = float("nan")


def pack_push(info: PushInfo) -> bytes:
    numbers = (getattr(info, n) for n in _PUSH_NUMBERS)
    packed = _PUSH_STRUCT.pack(*(_NAN if v is None else v for v in numbers))
    # NUL separates the strings; one inside an API string could only be garbage anyway.
    texts = "\0".join(getattr(info, n).replace("\0", "") for n in _PUSH_TEXTS)
    return packed + texts.encode()


def _push_fields(push: bytes) -> tuple[tuple[float, ...], list[str]]:
    """The numbers (in PUSH_VALUES order; NaN when absent) and the strings of packed values."""
    return _PUSH_STRUCT.unpack_from(push), push[_PUSH_STRUCT.size :].decode().split("\0")


def unpack_push(data: bytes) -> PushInfo:
    numbers, texts = _push_fields(data)
    fields: dict[str, Any] = dict(zip(_PUSH_TEXTS, texts, strict=True))
    for name, value in zip(_PUSH_NUMBERS, numbers, strict=True):
        fields[name] = None if math.isnan(value) else value
    return PushInfo(**fields)


class Exposition:
    """Cached text of the per-stream families, plus the registry for everything else."""

    def __init__(
        self,
        registry: CollectorRegistry,
        read_status: StatusReader,
        extra: Callable[[], str] | None = None,
    ) -> None:
        self._registry = registry
        self._read = read_status
        self._extra = extra
        self._lock = threading.Lock()
        self._flush_lock = threading.Lock()
        self._meta: dict[StreamKey, _StreamMeta] = {}
        self._specs: dict[tuple[LabelPairs, float | None], _StreamMeta] = {}
        # Packed by pack_push; None once a stream stops pushing. Streams going on and off air
        # set and clear their entry rather than deleting and re-adding it: every insertion
        # takes a fresh slot of the dict's entry table, whose pages (5-10 MB at 100k streams)
        # become resident one by one until the next resize, so with thousands of streams
        # starting every minute RSS crept up by MBs between resizes (benchmarks/memory.py).
        self._push: dict[StreamKey, bytes | None] = {}
        self._starts: list[StreamKey] = []
        self._buckets: list[_Bucket] = []
        self._dirty: set[int] = set()  # id() of dirty buckets
        self._dirty_event = threading.Event()

    # -- membership and changes (any thread) -----------------------------------------------

    def _bucket_index(self, key: StreamKey) -> int:
        return max(0, bisect.bisect_right(self._starts, key) - 1)

    def _mark(self, bucket: _Bucket) -> None:
        self._dirty.add(id(bucket))
        self._dirty_event.set()

    def _spec(self, extra: LabelPairs, down_after: float | None) -> _StreamMeta:
        """The shared meta for these labels (callers hold the lock)."""
        meta = self._specs.get((extra, down_after))
        if meta is None:
            if len(self._specs) > 2 * len(self._meta) + 1024:
                # Reloads changed labels: forget the combinations no stream uses any more.
                self._specs = {(m.extra, m.down_after): m for m in self._meta.values()}
            suffix = f",{format_labels(extra)}" if extra else ""
            meta = self._specs[(extra, down_after)] = _StreamMeta(extra, down_after, suffix)
        return meta

    def set_stream(self, key: StreamKey, extra: LabelPairs, down_after: float | None) -> None:
        """Track a stream (or change its labels); ``extra`` are the labels after ``stream``."""
        with self._lock:
            meta = self._spec(extra, down_after)
            known = key in self._meta
            if known and self._meta[key] == meta:
                return
            self._meta[key] = meta
            if not self._buckets:
                self._buckets.append(_Bucket([key]))
                self._starts.append(key)
                self._mark(self._buckets[0])
                return
            i = self._bucket_index(key)
            bucket = self._buckets[i]
            if not known:
                bisect.insort(bucket.keys, key)
                self._starts[i] = bucket.keys[0]
                if len(bucket.keys) >= 2 * BUCKET_SIZE:
                    self._split(i)
                    return
            self._mark(bucket)

    def set_streams(self, streams: Iterable[tuple[StreamKey, LabelPairs, float | None]]) -> None:
        """Bulk load (startup, reload): builds full buckets in one pass when starting empty."""
        items = sorted(streams)
        with self._lock:
            if not self._meta:
                for key, extra, down_after in items:
                    self._meta[key] = self._spec(extra, down_after)
                keys = [key for key, _, _ in items]
                for start in range(0, len(keys), BUCKET_SIZE):
                    bucket = _Bucket(keys[start : start + BUCKET_SIZE])
                    self._buckets.append(bucket)
                    self._starts.append(bucket.keys[0])
                    self._mark(bucket)
                return
        for key, extra, down_after in items:
            self.set_stream(key, extra, down_after)

    def _split(self, i: int) -> None:
        bucket = self._buckets[i]
        half = len(bucket.keys) // 2
        left, right = _Bucket(bucket.keys[:half]), _Bucket(bucket.keys[half:])
        self._dirty.discard(id(bucket))
        self._buckets[i : i + 1] = [left, right]
        self._starts[i : i + 1] = [left.keys[0], right.keys[0]]
        self._mark(left)
        self._mark(right)

    def remove_stream(self, key: StreamKey) -> None:
        with self._lock:
            if self._meta.pop(key, None) is None:
                return
            self._push.pop(key, None)
            i = self._bucket_index(key)
            bucket = self._buckets[i]
            j = bisect.bisect_left(bucket.keys, key)
            if j < len(bucket.keys) and bucket.keys[j] == key:
                del bucket.keys[j]
            if not bucket.keys:
                self._dirty.discard(id(bucket))
                del self._buckets[i]
                del self._starts[i]
            else:
                self._starts[i] = bucket.keys[0]
                self._mark(bucket)

    def stream_changed(self, key: StreamKey) -> None:
        """The store's listener: cheap, only marks the stream's bucket for re-rendering."""
        with self._lock:
            if key in self._meta:
                self._mark(self._buckets[self._bucket_index(key)])

    def set_push(self, updates: Mapping[StreamKey, PushInfo | None]) -> None:
        with self._lock:
            for key, info in updates.items():
                if key not in self._meta:
                    continue
                if info is None:
                    if self._push.get(key) is None:
                        continue
                    self._push[key] = None
                    bucket = self._buckets[self._bucket_index(key)]
                else:
                    packed = pack_push(info)
                    if self._push.get(key) == packed:
                        continue
                    bucket = self._buckets[self._bucket_index(key)]
                    if key not in self._push:
                        # Key by the tracked key object, not the caller's equal copy built
                        # from an API answer: 50k copies would cost ~9 MB.
                        key = bucket.keys[bisect.bisect_left(bucket.keys, key)]
                    self._push[key] = packed
                self._mark(bucket)

    def extra_labels(self, key: StreamKey) -> LabelPairs:
        with self._lock:
            meta = self._meta.get(key)
            return meta.extra if meta is not None else ()

    def push_keys(self) -> list[StreamKey]:
        """The streams that have push values."""
        with self._lock:
            return [k for k, v in self._push.items() if v is not None]

    def __len__(self) -> int:
        with self._lock:
            return len(self._meta)

    # -- rendering -------------------------------------------------------------------------

    def flush(self, blocking: bool = True) -> int:
        """Re-render the dirty buckets; returns how many. Scrapes never wait for this."""
        if not self._flush_lock.acquire(blocking=blocking):
            return 0
        try:
            with self._lock:
                if not self._dirty:
                    return 0
                todo = [b for b in self._buckets if id(b) in self._dirty]
                self._dirty.clear()
                self._dirty_event.clear()
            keep_text = len(self) <= KEEP_TEXT_STREAMS
            done = 0
            for bucket in todo:
                # One bucket's inputs at a time: copying every dirty bucket's first would hold
                # a 100k-entry dict of push values for the whole flush.
                with self._lock:
                    keys = list(bucket.keys)
                    metas = [self._meta[k] for k in keys]
                    push = {k: p for k in keys if (p := self._push.get(k)) is not None}
                if not keys:
                    continue
                text = self._render_bucket(keys, metas, push)
                packed = {name: _gzip(data) for name, data in text.items()}
                with self._lock:
                    # A bucket split or emptied meanwhile was re-marked; rendering it is moot.
                    bucket.packed, bucket.text = packed, text if keep_text else None
                done += 1
            return done
        finally:
            self._flush_lock.release()

    def _render_bucket(
        self, keys: list[StreamKey], metas: list[_StreamMeta], push: Mapping[StreamKey, bytes]
    ) -> dict[str, bytes]:
        statuses = self._read(keys)
        lines: dict[str, list[str]] = {f.name: [] for f in STREAM_FAMILIES}
        # A bucket's streams nearly all share account, domain and app: escape those once.
        prefixes: dict[tuple[str, str, str], str] = {}
        for key, meta, status in zip(keys, metas, statuses, strict=True):
            if status is None:
                continue
            where = (key.account, key.domain, key.app)
            prefix = prefixes.get(where)
            if prefix is None:
                prefix = prefixes[where] = format_labels(
                    (("account", key.account), ("domain", key.domain), ("app", key.app))
                )
            labels = f'{prefix},stream="{escape_label_value(key.stream)}"{meta.suffix}'
            _render_into(lines, labels, status, meta.down_after, push.get(key))
        return {name: "".join(parts).encode() for name, parts in lines.items() if parts}

    def wait_dirty(self, timeout: float) -> bool:
        return self._dirty_event.wait(timeout)

    def render(self, openmetrics: bool = False) -> bytes:
        """The whole exposition in one piece, changes flushed first (tests, tools)."""
        self.flush()
        return b"".join(self.render_chunks(openmetrics=openmetrics, compressed=False))

    def render_chunks(self, openmetrics: bool = False, compressed: bool = False) -> list[bytes]:
        """The exposition as a list of byte chunks to send in order.

        With ``compressed``, every chunk is a gzip member and the concatenation is the gzip
        of the exposition. Families are sorted by name so the output is stable.
        """
        generate = generate_openmetrics if openmetrics else generate_latest
        families = split_families(generate(self._registry).decode())
        if self._extra is not None:
            families.update(split_families(self._extra()))
        with self._lock:
            blocks = [b.packed for b in self._buckets]
            texts = [b.text for b in self._buckets]
        stream_names = {(f.om_name if openmetrics else f.name): f for f in STREAM_FAMILIES}
        pack = _gzip if compressed else _identity
        out: list[bytes] = []
        pending: list[str] = []  # registry text is batched into one member per run
        for name in sorted(set(families) | set(stream_names)):
            family = stream_names.get(name)
            if family is None:
                pending.append(families[name])
                continue
            pending.append(family.header(openmetrics))
            if pending:
                out.append(pack("".join(pending).encode()))
                pending = []
            name = family.name
            if compressed:
                out.extend(b[name] for b in blocks if name in b)
            else:
                out.extend(
                    (t[name] if t is not None else gzip.decompress(b[name]))
                    for b, t in zip(blocks, texts, strict=True)
                    if name in b
                )
        if openmetrics:
            pending.append("# EOF\n")
        if pending:
            out.append(pack("".join(pending).encode()))
        return out
