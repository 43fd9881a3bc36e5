"""Why streams stopped and what CSS sent: per-stream history (``store``: interrupts by reason,
push errors by type, the last interrupt, the callbacks accepted), the bounded reasons
(``reasons``, pure) and how far each account's event list was read (``cursor``, with the state
file that carries it across restarts)."""

from exporter.history.audit import (
    AUDIT_RESULTS,
    DELIVERED,
    NOT_RECEIVED,
    REFUSED,
    AuditCounts,
    AuditView,
)
from exporter.history.cursor import EventCursors
from exporter.history.reasons import (
    AUTH_OR_BAN,
    CLEAN_STOP,
    NETWORK,
    OTHER,
    PUSH_ERROR_TYPES,
    REASONS,
    from_errcode,
    from_stop_reason,
    push_error_type,
)
from exporter.history.store import (
    CALLBACK,
    EVENT_LIST,
    History,
    Interrupt,
    StreamHistory,
    label_text,
)

__all__ = [
    "AUDIT_RESULTS",
    "AUTH_OR_BAN",
    "CALLBACK",
    "CLEAN_STOP",
    "DELIVERED",
    "EVENT_LIST",
    "NETWORK",
    "NOT_RECEIVED",
    "OTHER",
    "PUSH_ERROR_TYPES",
    "REASONS",
    "REFUSED",
    "AuditCounts",
    "AuditView",
    "EventCursors",
    "History",
    "Interrupt",
    "StreamHistory",
    "from_errcode",
    "from_stop_reason",
    "label_text",
    "push_error_type",
]
