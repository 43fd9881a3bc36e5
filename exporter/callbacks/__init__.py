"""The CSS callback receiver's pure core: validate one request body, answer an event or a
rejection.

CSS (Tencent Cloud Streaming Services) POSTs a JSON body when a push starts (``event_type`` 1),
stops (0) or reports push errors (321). Every body carries ``t``, the *expiry* of the
notification (Unix seconds; CSS sets it to the event time + 10 minutes), and
``sign`` = lower-hex MD5(callback key + str(t)). The official samples (Tencent's "Stream Pushing
Notification" and "Push Error Event Notification" pages) are kept in
``tests/corpus/callbacks/``.

Nothing here does I/O, keeps state or imports Prometheus: the HTTP layer calls
:func:`check_method` and :func:`check_length` before it reads the body, then
:func:`parse_callback`, answers ``200 OK_BODY`` for a :class:`CallbackEvent` and
``Rejection.status`` with ``Rejection.message`` otherwise, and counts rejections by
``Rejection.reason`` (all of them are in :data:`REASONS`).

- :mod:`.model`: the event, the rejection, the reasons and their HTTP statuses, the limits;
- :mod:`.validate`: the request checks in their fixed order, the JSON loading and the signature;
- :mod:`.fields`: how each body field is read (integers, identifiers, free text).

Duplicates and out-of-order deliveries (CSS retries up to 12 times, a minute apart) are the state
store's business: :func:`exporter.state.callback_newer` is the rule it applies. Applying an event
to the running exporter belongs to the sink, beside this core and not imported by it.
"""

from __future__ import annotations

from exporter.callbacks.model import (
    MAX_BODY_BYTES,
    MAX_FUTURE_SECONDS,
    OK_BODY,
    REASONS,
    STATUS,
    CallbackEvent,
    EventType,
    Rejection,
)
from exporter.callbacks.validate import (
    check_content_type,
    check_length,
    check_method,
    parse_callback,
    sign,
)

__all__ = [
    "MAX_BODY_BYTES",
    "MAX_FUTURE_SECONDS",
    "OK_BODY",
    "REASONS",
    "STATUS",
    "CallbackEvent",
    "EventType",
    "Rejection",
    "check_content_type",
    "check_length",
    "check_method",
    "parse_callback",
    "sign",
]
