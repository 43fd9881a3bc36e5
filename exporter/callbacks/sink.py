"""The callback sink: applies authenticated CSS callbacks to the running exporter.

It holds no state of its own: a request takes one runtime snapshot (keys, targets, validity),
starts tracking a pushed stream through membership (the owner of what is tracked), applies
the event through the state store (the owner of states) and records it in the streams' history
(interrupts with their reason, push errors by type, the callbacks accepted: their owner).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

from exporter.callbacks.model import OK_BODY, STATUS, CallbackEvent, EventType, Rejection
from exporter.callbacks.origin import Origin, SignatureUses, allowed, external_plain_http
from exporter.callbacks.validate import parse_callback
from exporter.history import CALLBACK, History, Interrupt, from_errcode, push_error_type
from exporter.metrics import ExporterMetrics
from exporter.model import Observation, Source, StreamKey, StreamState
from exporter.runtime.membership import REFUSED, Membership
from exporter.runtime.snapshot import Runtime
from exporter.state import Outcome, StateStore

log = logging.getLogger(__name__)

_EVENTS = {
    EventType.PUSH: "push",
    EventType.INTERRUPT: "interrupt",
    EventType.PUSH_ERROR: "push_error",
}


class CallbackSink:
    def __init__(
        self,
        store: StateStore,
        membership: Membership,
        metrics: ExporterMetrics,
        wall: Callable[[], float],
        history: History | None = None,
    ) -> None:
        self._store = store
        self._history = history if history is not None else History()
        self._membership = membership
        self._metrics = metrics
        self._wall = wall
        self._uses = SignatureUses()
        self._lock = threading.Lock()
        self._plain_http = 0  # callbacks seen over plain HTTP from outside loopback
        self._plain_http_last: float | None = None

    def plain_http(self) -> tuple[int, float | None]:
        """(count, last time) of callbacks over plain HTTP from outside loopback."""
        with self._lock:
            return self._plain_http, self._plain_http_last

    def handle(
        self,
        runtime: Runtime,
        body: bytes,
        content_type: str | None,
        now: float | None = None,
        origin: Origin | None = None,
    ) -> tuple[int, bytes]:
        """One CSS callback request: (HTTP status, body). Never raises, never blocks on I/O."""
        wall = self._wall() if now is None else now
        if origin is not None:
            if not allowed(origin, runtime.callback_allow, runtime.callback_trusted):
                refused = Rejection(
                    "forbidden_source", STATUS["forbidden_source"], "source not allowed"
                )
                self.rejected(refused)
                return refused.status, f"{refused.reason}: {refused.message}\n".encode()
            if external_plain_http(origin):
                with self._lock:
                    self._plain_http += 1
                    self._plain_http_last = wall
        parsed = parse_callback(
            body,
            content_type=content_type,
            keys_for=runtime.keys_for,
            now=wall,
            max_age=runtime.callback_max_age,
        )
        if isinstance(parsed, Rejection):
            self.rejected(parsed)
            log.debug("callback not applied: %s: %s", parsed.reason, parsed.message)
            if parsed.status == 200:  # authentic, but expired or not an event we handle
                return 200, OK_BODY
            return parsed.status, f"{parsed.reason}: {parsed.message}\n".encode()
        why = self._uses.refuses(
            parsed.t, parsed.sign, parsed.event_time, runtime.callback_max_events, wall
        )
        if why is not None:
            replayed = Rejection("replayed", STATUS["replayed"], why)
            self.rejected(replayed)
            log.debug("callback refused as replayed: %s", why)
            return replayed.status, f"{replayed.reason}: {replayed.message}\n".encode()
        result = self._apply(runtime, parsed, wall)
        if result != "duplicate":  # a retry signs nothing new
            self._uses.used(parsed.t, parsed.sign, parsed.event_time)
        self._metrics.callback_requests.labels(result).inc()
        return 200, OK_BODY

    def rejected(self, rejection: Rejection) -> None:
        """A callback refused (also before its body was read: a bad Content-Length)."""
        self._metrics.callback_requests.labels(rejection.reason).inc()

    def _count(self, account: str, event: CallbackEvent, now: float) -> None:
        self._metrics.callback_events.labels(account, _EVENTS[event.event]).inc()
        self._metrics.callback_last_event.labels(account).set(now)

    def _apply(self, runtime: Runtime, event: CallbackEvent, now: float) -> str:
        result = "unknown_stream"
        for t in runtime.targets_for(event.domain, event.app):
            key = StreamKey(t.account, t.domain, t.app, event.stream)
            if key not in self._store:
                if event.event is not EventType.PUSH:
                    continue
                # Tracked provisionally until a list round confirms it (see membership).
                if self._membership.pushed(t.name, event.stream, now) == REFUSED:
                    continue
            if event.event is EventType.PUSH_ERROR:
                self._count(t.account, event, now)
                self._push_errors(key, event)
                result = "accepted"
                continue
            state = StreamState.ACTIVE if event.event is EventType.PUSH else StreamState.INACTIVE
            # CSS's clock and ours differ a little: an event is never in our future.
            at = min(event.event_time, now)
            outcome = self._store.apply(
                Observation(key, at, Source.CALLBACK, state=state, sequence=event.sequence), now
            )
            if outcome is Outcome.APPLIED:
                self._count(t.account, event, now)
            if outcome is not Outcome.UNKNOWN_STREAM:
                self._remember(key, event, at)
            result = "accepted" if outcome is Outcome.APPLIED else outcome.value
        return result

    def _remember(self, key: StreamKey, event: CallbackEvent, at: float) -> None:
        """A push or interrupt the receiver took (applied, or already known): for the callback
        audit, and an interrupt's reason (retries and the event list's report of the same
        interrupt are counted once by the history)."""
        self._history.accepted(key, event.event.value, event.sequence, event.event_time)
        if event.event is EventType.INTERRUPT:
            ms = event.push_duration_ms
            interrupt = Interrupt(
                time=at,
                reason=from_errcode(event.errcode),
                code=event.errcode,
                message=event.errmsg,
                source=CALLBACK,
                duration=None if ms is None else ms / 1000.0,
            )
            self._history.interrupted(key, interrupt)

    def _push_errors(self, key: StreamKey, event: CallbackEvent) -> None:
        """Count a push-error report's abnormal events once (CSS retries undelivered ones)."""
        if not self._history.accepted(key, event.event.value, event.sequence, event.event_time):
            return
        counts: dict[str, int] = {}
        for kind, count in event.abnormal:
            name = push_error_type(kind)
            counts[name] = counts.get(name, 0) + count
        self._history.push_errors(key, counts)
