"""The history of each stream: interrupts by reason, push errors by type, the last interrupt, and
the callbacks this exporter accepted for it. One owner, one lock (a leaf).

Two sources report one interrupt: the interrupt callback (with ``errcode``/``errmsg``) and the
event list (with ``StopReason`` and the session's duration), each possibly more than once (CSS
retries a callback; event-list rounds overlap). An interrupt is counted once: one whose end is
within ``SAME_INTERRUPT`` seconds of one already counted for the stream is the same, and only
fills in what the first report lacked (the duration, the code).

Values are immutable per stream and replaced on change, so a render or a status page reads them
without copying. What changed is handed to ``mark`` (the exposition's) after the lock is
released.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, replace

from exporter.history.audit import AuditCounts
from exporter.history.cursor import EventCursors
from exporter.model import StreamKey

__all__ = ["CALLBACK", "EVENT_LIST", "History", "Interrupt", "StreamHistory"]

CALLBACK = "callback"
EVENT_LIST = "event_list"

SAME_INTERRUPT = 10.0  # seconds between two reports of one interrupt (clock skew, rounding)
_RECENT = 8  # interrupt end times kept per stream for that comparison
_LEDGER = 16  # accepted callbacks kept per stream, for the callback audit
MAX_MESSAGE = 64  # characters of a message kept as a label value


def label_text(message: str) -> str:
    """A message as a label value: one line, at most MAX_MESSAGE characters."""
    text = " ".join(message.split())
    return text if len(text) <= MAX_MESSAGE else text[: MAX_MESSAGE - 1] + "…"


@dataclass(frozen=True, slots=True)
class Interrupt:
    time: float  # when the push ended (Unix s)
    reason: str  # exporter.history.reasons
    code: int | None  # the callback's errcode; None from the event list alone
    message: str  # errmsg or StopReason, as label text
    source: str  # CALLBACK or EVENT_LIST: who told first
    duration: float | None  # the session's length, when known


@dataclass(frozen=True, slots=True)
class StreamHistory:
    interrupts: tuple[tuple[str, int], ...] = ()  # (reason, count), sorted by reason
    push_errors: tuple[tuple[str, int], ...] = ()  # (error type, count), sorted
    last: Interrupt | None = None
    ends: tuple[float, ...] = ()  # end times of the last interrupts counted
    # (event type, sequence, event time) of the callbacks accepted last, newest last.
    accepted: tuple[tuple[int, str, float], ...] = ()


_EMPTY = StreamHistory()


def _bump(counts: tuple[tuple[str, int], ...], name: str, by: int) -> tuple[tuple[str, int], ...]:
    table = dict(counts)
    table[name] = table.get(name, 0) + by
    return tuple(sorted(table.items()))


class History:
    def __init__(
        self,
        mark: Callable[[list[StreamKey]], None] | None = None,
        started: float | None = None,
    ) -> None:
        self._lock = threading.Lock()
        self._streams: dict[StreamKey, StreamHistory] = {}
        self._mark = mark or (lambda keys: None)
        # Where each push domain's event list is read from next (kept in the state file), and
        # the callback audit's results: owners of their own, carried here for the jobs.
        self.cursors = EventCursors(time.time() if started is None else started)
        self.audit = AuditCounts()

    def bind(self, mark: Callable[[list[StreamKey]], None]) -> None:
        """Where changes are reported (the exposition marks the streams' buckets)."""
        self._mark = mark

    # -- writes ------------------------------------------------------------------------------

    def interrupted(self, key: StreamKey, interrupt: Interrupt) -> bool:
        """One report of an interrupt; True if it was new (and counted)."""
        interrupt = replace(interrupt, message=label_text(interrupt.message))
        with self._lock:
            prev = self._streams.get(key, _EMPTY)
            same = next((t for t in prev.ends if abs(t - interrupt.time) <= SAME_INTERRUPT), None)
            if same is not None:
                last = prev.last
                if last is None or abs(last.time - same) > 1e-9:
                    return False
                filled = replace(
                    last,
                    code=last.code if last.code is not None else interrupt.code,
                    duration=last.duration if last.duration is not None else interrupt.duration,
                )
                if filled == last:
                    return False
                self._streams[key] = replace(prev, last=filled)
                new = False
            else:
                last = prev.last
                newest = last is None or interrupt.time >= last.time
                self._streams[key] = replace(
                    prev,
                    interrupts=_bump(prev.interrupts, interrupt.reason, 1),
                    last=interrupt if newest else last,
                    ends=(*prev.ends, interrupt.time)[-_RECENT:],
                )
                new = True
        self._mark([key])
        return new

    def push_errors(self, key: StreamKey, counts: Mapping[str, int]) -> None:
        if not counts:
            return
        with self._lock:
            prev = self._streams.get(key, _EMPTY)
            errors = prev.push_errors
            for name, count in counts.items():
                errors = _bump(errors, name, count)
            self._streams[key] = replace(prev, push_errors=errors)
        self._mark([key])

    def accepted(self, key: StreamKey, event_type: int, sequence: str, event_time: float) -> bool:
        """A callback the receiver accepted (answered 200 and applied or already had); False
        when the same one was accepted before (a retry). Not rendered: no mark."""
        entry = (event_type, sequence, event_time)
        with self._lock:
            prev = self._streams.get(key, _EMPTY)
            if entry in prev.accepted:
                return False
            self._streams[key] = replace(prev, accepted=(*prev.accepted, entry)[-_LEDGER:])
            return True

    def forget(self, key: StreamKey) -> None:
        """The stream is no longer tracked."""
        with self._lock:
            self._streams.pop(key, None)

    # -- reads -------------------------------------------------------------------------------

    def get(self, key: StreamKey) -> StreamHistory | None:
        with self._lock:
            return self._streams.get(key)

    def get_many(self, keys: Iterable[StreamKey]) -> list[StreamHistory | None]:
        with self._lock:
            get = self._streams.get
            return [get(k) for k in keys]

    def snapshot(self) -> dict[StreamKey, StreamHistory]:
        with self._lock:
            return dict(self._streams)

    def __len__(self) -> int:
        with self._lock:
            return len(self._streams)
