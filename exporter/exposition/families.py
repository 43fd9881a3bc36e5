"""The per-stream metric families: names, help, and how one stream's lines are written.

Pure text functions, shared by the bucket cache (``cache.py``) and its tests.
"""

from __future__ import annotations

import functools
import math
import struct
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from prometheus_client.utils import floatToGoString

from exporter.model import ALL_STATES, PushInfo, StreamState
from exporter.state import StreamStatus

LabelPairs = tuple[tuple[str, str], ...]

_CACHED = "Cached from the last poll of the Tencent CSS API (or the last CSS callback)."
_PUSH = "From DescribeLiveStreamPushInfoList, cached from the last poll; active streams only."


@dataclass(frozen=True)
class Family:
    name: str
    kind: str
    help: str
    # Which streams have it (for the series estimate, exporter/catalog.py): "always", or while
    # "active" with push quality, with "viewers" (play domains), "expect_live", a "schedule",
    # "quality" thresholds, or a "history" (one series per reason or error code seen).
    when: str = "always"
    series: int = 1  # per stream that has it

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
    series=4,
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
    when="history",
)
DOWN_AFTER = Family(
    "tencent_live_stream_down_after_seconds",
    "gauge",
    "For streams expected to be live: how long the stream may be inactive before StreamDown "
    "fires (config down_after).",
    when="expect_live",
)


# Prometheus' base unit is the byte (promtool rejects _bits): bitrates are exported / 8.
_BITRATE = "{} bitrate in bytes per second ({} / 8; multiply by 8 for bits/s)"
_BITS_PER_BYTE = 8.0
_PER_BYTE = frozenset(
    {"video_bitrate", "audio_bitrate", "meta_video_bitrate", "meta_audio_bitrate"}
)


def _push_family(suffix: str, what: str) -> Family:
    return Family(f"tencent_live_stream_{suffix}", "gauge", f"{what}. {_PUSH}", when="active")


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

# Playback (what viewers see): from DescribeAllStreamPlayInfoList, of the minute
# tencent_live_playback_data_timestamp_seconds{account} gives (Tencent's data is minutes old).
_PLAY = (
    "From DescribeAllStreamPlayInfoList, every play domain, protocol and bitrate summed, at the "
    "minute tencent_live_playback_data_timestamp_seconds gives; 0 when Tencent's data for that "
    "minute has none."
)
PLAYBACK_VALUES: tuple[Family, ...] = (
    Family(
        "tencent_live_stream_viewers",
        "gauge",
        f"Viewers (Online: TCP connections sampled in the minute). {_PLAY}",
        when="viewers",
    ),
    Family(
        "tencent_live_stream_playback_bytes_per_second",
        "gauge",
        f"Playback bandwidth in bytes per second (Bandwidth in Mbps x 125000). {_PLAY}",
        when="viewers",
    ),
    Family(
        "tencent_live_stream_playback_requests_per_second",
        "gauge",
        f"Playback requests per second over the minute (Request / 60). {_PLAY}",
        when="viewers",
    ),
)

STREAM_FAMILIES: tuple[Family, ...] = tuple(
    sorted(
        (
            STATE,
            LAST_CHANGE,
            ERRORS,
            DOWN_AFTER,
            PUSH_INFO,
            *(f for f, _ in PUSH_VALUES),
            *PLAYBACK_VALUES,
        ),
        key=lambda f: f.name,
    )
)


def escape_label_value(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def format_labels(pairs: LabelPairs) -> str:
    return ",".join(f'{name}="{escape_label_value(value)}"' for name, value in pairs)


# prometheus_client's own float formatting (untyped there), so values read as the registry's do.
_value: Callable[[float], str] = floatToGoString
# For values that many streams share (a list round's change time, a target's down_after): a
# lookup instead of formatting, which was a fifth of a 100k-stream render.
_shared_value: Callable[[float], str] = functools.lru_cache(maxsize=4096)(floatToGoString)
_escaped_source: Callable[[str], str] = functools.lru_cache(maxsize=64)(escape_label_value)


# The state set's four values for each state, in ALL_STATES order.
_FLAGS = {s: tuple("1" if o is s else "0" for o in ALL_STATES) for s in ALL_STATES}


def render_stream(
    lines: dict[str, list[str]],
    labels: str,
    status: StreamStatus,
    down_after: float | None,
    push: bytes | None,
    playback: bytes | None = None,
) -> None:
    """Append one stream's lines to each family's list; ``push`` is packed by pack_push,
    ``playback`` by pack_playback."""
    if playback is not None:
        # Whatever the state: viewers trail the stream by minutes (zero only once Tencent's
        # data says so), so they are shown as Tencent's data has them.
        for family, value in zip(PLAYBACK_VALUES, _PLAY_STRUCT.unpack(playback), strict=True):
            lines[family.name].append(f"{family.name}{{{labels}}} {_value(value)}\n")
    n = STATE.name
    a, i, f, u = _FLAGS[status.state]
    lines[n].append(
        f'{n}{{{labels},state="active"}} {a}\n{n}{{{labels},state="inactive"}} {i}\n'
        f'{n}{{{labels},state="forbid"}} {f}\n{n}{{{labels},state="unknown"}} {u}\n'
    )
    if status.last_change is not None:
        source = _escaped_source(status.change_source or "")
        n = LAST_CHANGE.name
        when = _shared_value(status.last_change)
        lines[n].append(f'{n}{{{labels},source="{source}"}} {when}\n')
    if status.errors_by_code:
        n = ERRORS.name
        lines[n].append(
            "".join(
                f'{n}{{{labels},code="{escape_label_value(code)}"}} {count}.0\n'
                for code, count in status.errors_by_code
            )
        )
    if down_after is not None:
        n = DOWN_AFTER.name
        lines[n].append(f"{n}{{{labels}}} {_shared_value(down_after)}\n")
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


# Playback values are kept packed too: three doubles (viewers, bytes/s, requests/s). Most
# tracked streams have nobody watching at a given minute: they all share one object.
_PLAY_STRUCT = struct.Struct("<3d")


def pack_playback(viewers: float, bytes_per_second: float, requests_per_second: float) -> bytes:
    if not (viewers or bytes_per_second or requests_per_second):
        return NO_PLAYBACK
    return _PLAY_STRUCT.pack(viewers, bytes_per_second, requests_per_second)


def unpack_playback(data: bytes) -> tuple[float, float, float]:
    viewers, bandwidth, requests = _PLAY_STRUCT.unpack(data)
    return viewers, bandwidth, requests


NO_PLAYBACK = _PLAY_STRUCT.pack(0.0, 0.0, 0.0)
