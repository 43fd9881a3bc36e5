"""The /metrics body: per-stream families rendered when a stream changes, joined on scrape.

A collector that builds every stream's families on each scrape costs seconds at 100k streams.
Here the poll worker that changes a stream re-renders that stream's lines once; a scrape only
joins cached text (and not even that when nothing changed since the previous scrape).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.utils import floatToGoString

from exporter.model import ALL_STATES, StreamKey
from exporter.state import StreamStatus

LabelPairs = tuple[tuple[str, str], ...]

_CACHED = "Cached from the last poll of the Tencent CSS API."


@dataclass(frozen=True)
class Family:
    name: str
    kind: str
    help: str

    def header(self) -> str:
        return f"# HELP {self.name} {self.help}\n# TYPE {self.name} {self.kind}\n"


STATE = Family(
    "tencent_live_stream_state",
    "gauge",
    "Stream state as a state set: 1 for the current state (active, inactive, forbid, or unknown "
    f"when not yet or no longer confirmed), 0 for the others. {_CACHED}",
)
LAST_CHANGE = Family(
    "tencent_live_stream_last_change_timestamp_seconds",
    "gauge",
    f"Unix time at which the stream's state last changed, as seen by the exporter. {_CACHED}",
)
LAST_SUCCESS = Family(
    "tencent_live_stream_last_success_timestamp_seconds",
    "gauge",
    f"Unix time of the last successful observation of the stream's state. {_CACHED}",
)
ERRORS = Family(
    "tencent_live_stream_errors_total",
    "counter",
    "Failed polls of this stream, by Tencent error code or transport class "
    "(Timeout, ConnectionError, HTTPError, BadResponse).",
)
CONSECUTIVE_ERRORS = Family(
    "tencent_live_stream_consecutive_errors",
    "gauge",
    f"Failed polls of this stream since its last successful one. {_CACHED}",
)

STREAM_FAMILIES: tuple[Family, ...] = tuple(
    sorted((STATE, LAST_CHANGE, LAST_SUCCESS, ERRORS, CONSECUTIVE_ERRORS), key=lambda f: f.name)
)


def escape_label_value(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def format_labels(pairs: LabelPairs) -> str:
    return ",".join(f'{name}="{escape_label_value(value)}"' for name, value in pairs)


def render_stream(labels: str, status: StreamStatus) -> dict[str, str]:
    """Every family's lines for one stream; ``labels`` is already formatted."""
    out: dict[str, str] = {}
    out[STATE.name] = "".join(
        f'{STATE.name}{{{labels},state="{s.value}"}} {1 if s is status.state else 0}\n'
        for s in ALL_STATES
    )
    out[LAST_CHANGE.name] = (
        f"{LAST_CHANGE.name}{{{labels}}} {floatToGoString(status.last_change)}\n"
        if status.last_change is not None
        else ""
    )
    out[LAST_SUCCESS.name] = (
        f"{LAST_SUCCESS.name}{{{labels}}} {floatToGoString(status.last_success)}\n"
        if status.last_success is not None
        else ""
    )
    out[ERRORS.name] = "".join(
        f'{ERRORS.name}{{{labels},code="{escape_label_value(code)}"}} {count}.0\n'
        for code, count in status.errors_by_code
    )
    out[CONSECUTIVE_ERRORS.name] = (
        f"{CONSECUTIVE_ERRORS.name}{{{labels}}} {status.consecutive_errors}\n"
    )
    return out


def split_families(text: str) -> dict[str, str]:
    """Split a text exposition into blocks keyed by family name (each block keeps its lines)."""
    blocks: dict[str, str] = {}
    name = ""
    lines: list[str] = []
    for line in text.splitlines(keepends=True):
        if line.startswith("# HELP "):
            if lines:
                blocks[name] = "".join(lines)
            name = line.split(" ", 3)[2]
            lines = []
        lines.append(line)
    if lines:
        blocks[name] = "".join(lines)
    return blocks


class Exposition:
    """Cached text of the per-stream families, plus the registry for everything else."""

    def __init__(
        self,
        stream_labels: Mapping[StreamKey, LabelPairs],
        registry: CollectorRegistry,
        extra: Callable[[], str] | None = None,
    ) -> None:
        self._registry = registry
        self._extra = extra
        self._lock = threading.Lock()
        self._labels = {k: format_labels(v) for k, v in stream_labels.items()}
        self._order = sorted(self._labels)
        self._chunks: dict[StreamKey, dict[str, str]] = {}
        self._version = 0
        self._cached: tuple[int, dict[str, str]] | None = None

    def stream_changed(self, key: StreamKey, status: StreamStatus) -> None:
        labels = self._labels.get(key)
        if labels is None:
            return
        chunk = render_stream(labels, status)
        with self._lock:
            self._chunks[key] = chunk
            self._version += 1

    def _stream_blocks(self) -> dict[str, str]:
        with self._lock:
            if self._cached is not None and self._cached[0] == self._version:
                return self._cached[1]
            version = self._version
            chunks = [self._chunks[k] for k in self._order if k in self._chunks]
        # Joining happens outside the lock so that poll workers never wait for a scrape.
        blocks = {f.name: f.header() + "".join(c[f.name] for c in chunks) for f in STREAM_FAMILIES}
        with self._lock:
            if self._cached is None or self._cached[0] < version:
                self._cached = (version, blocks)
        return blocks

    def render(self) -> bytes:
        """The whole exposition, families sorted by name so the output is stable."""
        families = split_families(generate_latest(self._registry).decode())
        if self._extra is not None:
            families.update(split_families(self._extra()))
        families.update(self._stream_blocks())
        return "".join(families[name] for name in sorted(families)).encode()
