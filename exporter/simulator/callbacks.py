"""CSS push (event_type 1), interrupt (event_type 0) and push-error (event_type 321) callbacks.

Deliveries happen on one background thread fed by a bounded queue: producing a callback never
blocks an API request or the world lock, a full queue drops (and counts) the event, and a slow
or failing receiver only delays later callbacks. Every callback sent (or dropped on purpose:
``SimHistory.drop``) is recorded for DescribeCallbackRecordsList, with what the receiver
answered: ResultCode 0 for a 200, the HTTP status otherwise, 1 when nothing answered.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import queue
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from typing import Any

from exporter.simulator.counters import Counters
from exporter.simulator.history import CallbackRecord, SimHistory, errmsg
from exporter.simulator.model import ACTIVE
from exporter.simulator.world import StateChange

log = logging.getLogger(__name__)

EVENT_PUSH = 1
EVENT_INTERRUPT = 0
EVENT_PUSH_ERROR = 321
SIGN_VALIDITY = 600  # CSS callbacks are valid for 10 minutes by default


def callback_sign(key: str, t: int) -> str:
    """``sign`` = lower-hex MD5(callback key + str(t))."""
    return hashlib.md5((key + str(t)).encode("utf-8")).hexdigest()


def session_sequence(domain: str, app: str, stream: str, since: float) -> str:
    """A decimal id shared by the push and the interrupt of one push session."""
    digest = hashlib.md5(f"{domain}/{app}/{stream}/{since:.6f}".encode()).hexdigest()
    return str(int(digest[:16], 16) >> 1)


def build_callbacks(
    change: StateChange, *, key: str, appid: int, wall_now: float
) -> list[dict[str, Any]]:
    """Zero or one callback body for a state change (only transitions in or out of active)."""
    if (change.new == ACTIVE) == (change.old == ACTIVE):
        return []
    q = change.quality
    width, height = q.width_height()
    t = int(wall_now) + SIGN_VALIDITY
    body: dict[str, Any] = {
        "t": t,
        "sign": callback_sign(key, t),
        "appid": appid,
        "app": change.domain,
        "appname": change.app,
        "stream_id": change.stream,
        "channel_id": change.stream,
        "event_time": int(change.at),
        "node": q.server_ip,
        "user_ip": q.client_ip,
        "stream_param": q.stream_param,
        "set_id": 2,
        "width": width,
        "height": height,
        "idc_id": 38,
    }
    if change.new == ACTIVE:
        since = change.at
        body.update(event_type=EVENT_PUSH, errcode=0, errmsg="ok")
    else:
        since = change.previous_since
        duration_ms = max(0, round((change.at - since) * 1000))
        body.update(
            event_type=EVENT_INTERRUPT,
            errcode=change.errcode,
            errmsg=errmsg(change.errcode),
            push_duration=str(duration_ms),
        )
    body["sequence"] = session_sequence(change.domain, change.app, change.stream, since)
    return [body]


def build_push_error(
    domain: str,
    app: str,
    stream: str,
    abnormal: list[tuple[int, int]],
    *,
    key: str,
    appid: int,
    wall_now: float,
    sequence: str = "0",
) -> dict[str, Any]:
    """A push-error callback (event_type 321) in CSS's "general_callback" shape
    (tencentcloud.com/document/product/267/53310): ``abnormal`` is (type, count) per entry."""
    t = int(wall_now) + SIGN_VALIDITY
    return {
        "t": t,
        "sign": callback_sign(key, t),
        "abnormal_event": [
            {
                "count": count,
                "detail": [{"desc": f"abnormal event {kind}", "occur_time": int(wall_now * 1000)}],
                "type": kind,
                "type_desc_cn": "",
                "type_desc_en": f"abnormal event type {kind}",
            }
            for kind, count in abnormal
        ],
        "appid": appid,
        "data_time": int(wall_now * 1000),
        "domain": domain,
        "event_type": EVENT_PUSH_ERROR,
        "interface": "general_callback",
        "path": app,
        "report_interval": 5000,
        "sequence": sequence,
        "stream_id": stream,
        "stream_param": "",
        "timeout": 5000,
    }


class CallbackSender:
    """Posts callback bodies to ``url`` from a daemon thread."""

    def __init__(
        self,
        url: str,
        key: str,
        *,
        appid: int,
        counters: Counters,
        wall_clock: Callable[[], float] = time.time,
        timeout: float = 2.0,
        queue_size: int = 10000,
        history: SimHistory | None = None,
    ) -> None:
        self._history = history
        self.url = url
        self._key = key
        self._appid = appid
        self._counters = counters
        self._wall_clock = wall_clock
        self._timeout = timeout
        self._queue: queue.Queue[dict[str, Any] | None] = queue.Queue(maxsize=queue_size)
        self._thread: threading.Thread | None = None
        # Never route callbacks through an HTTP(S)_PROXY from the environment.
        self._opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))

    def on_changes(self, changes: list[StateChange]) -> None:
        """World listener: turn changes into queued callbacks without blocking."""
        now = self._wall_clock()
        for change in changes:
            for body in build_callbacks(change, key=self._key, appid=self._appid, wall_now=now):
                self._enqueue(body)

    def push_error(
        self, domain: str, app: str, stream: str, abnormal: list[tuple[int, int]]
    ) -> None:
        """Report push errors of a stream (a push-error callback, event_type 321)."""
        body = build_push_error(
            domain,
            app,
            stream,
            abnormal,
            key=self._key,
            appid=self._appid,
            wall_now=self._wall_clock(),
            sequence=str(int(self._wall_clock() * 1000)),
        )
        self._enqueue(body)

    def _enqueue(self, body: dict[str, Any]) -> None:
        try:
            self._queue.put_nowait(body)
        except queue.Full:
            self._counters.count_callback("dropped")

    def start(self) -> None:
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="sim-callbacks", daemon=True)
            self._thread.start()

    def stop(self, timeout: float = 0.5) -> None:
        if self._thread is None:
            return
        with contextlib.suppress(queue.Full):
            self._queue.put_nowait(None)
        self._thread.join(timeout)
        self._thread = None

    def _run(self) -> None:
        while True:
            body = self._queue.get()
            if body is None:
                return
            self._counters.count_callback(self._deliver(body))

    def _deliver(self, body: dict[str, Any]) -> str:
        data = json.dumps(body)
        dropped = self._history.take_drop() if self._history is not None else None
        if dropped is not None:
            self._record(body, data, "", dropped)
            return "dropped_on_purpose"
        request = urllib.request.Request(
            self.url,
            data=data.encode(),
            headers={"Content-Type": "application/json"},
            method="POST",
        )
        try:
            with self._opener.open(request, timeout=self._timeout) as response:
                answer = response.read()
                code = 0 if response.status == 200 else response.status
                self._record(body, data, answer.decode("utf-8", "replace"), code)
                return "sent" if code == 0 else "failed"
        except urllib.error.HTTPError as exc:
            self._record(body, data, exc.read().decode("utf-8", "replace"), exc.code)
            return "failed"
        except (urllib.error.URLError, OSError, ValueError) as exc:
            log.debug("callback to %s failed: %s", self.url, exc)
            self._record(body, data, "", 1)
            return "failed"

    def _record(self, body: dict[str, Any], data: str, answer: str, code: int) -> None:
        if self._history is None:
            return
        kind = int(body["event_type"])
        at = body["data_time"] / 1000 if kind == EVENT_PUSH_ERROR else float(body["event_time"])
        self._history.sent(
            CallbackRecord(
                stream=str(body["stream_id"]),
                event_type=kind,
                event_time=at,
                request=data,
                response=answer[:1000],
                response_time=self._wall_clock(),
                result_code=code,
            )
        )
