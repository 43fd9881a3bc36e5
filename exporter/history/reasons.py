"""Why a stream stopped, in a few bounded words: the ``reason`` label of the interrupt counters.

Pure. Two sources say why: an interrupt callback's ``errcode`` (the table of Tencent's "Stream
Interruption Records" page, tencentcloud.com/document/product/267/31083), and the event list's
``StopReason``, a sentence in the console's language (the China API's example: "客户端主动断流",
the client stopped the push; cloud.tencent.com/document/api/267/33186). Codes are mapped by the
table; sentences by the words the table's sentences use, in English and Chinese. What neither
recognises is ``other``: the raw code and message stay on the status page and in the last
interrupt's labels.

Push-error callbacks (event_type 321) carry ``abnormal_event`` entries whose ``type`` is one of
eleven documented kinds (tencentcloud.com/document/product/267/53310); anything else is
``other``.
"""

from __future__ import annotations

__all__ = [
    "AUTH_OR_BAN",
    "CLEAN_STOP",
    "NETWORK",
    "OTHER",
    "PUSH_ERROR_TYPES",
    "REASONS",
    "from_errcode",
    "from_stop_reason",
    "push_error_type",
]

CLEAN_STOP = "clean_stop"  # the encoder ended the push (RTMP deleteStream)
NETWORK = "network"  # the push link failed or went silent (timeout)
AUTH_OR_BAN = "auth_or_ban"  # refused: push authentication, a ban, a disabled domain/account
OTHER = "other"  # CSS internal errors, protocol errors, unknown
REASONS: tuple[str, ...] = (AUTH_OR_BAN, CLEAN_STOP, NETWORK, OTHER)

# 267/31083: 1-4 "the push client stopped the stream"; 8 "no data was generated for a long
# time"; 12-15 and 17 "network error for the push client" (16 is listed as internal on the
# international page); 200-203 the account's CSS service suspended or the push URL's customer
# unknown; 300 and up the push URL refused (IP push, unknown or disabled domain or app, the
# stream disabled, IP black/white lists, missing or expired txTime, bad txSecret).
_CLEAN = frozenset({1, 2, 3, 4})
_NETWORK = frozenset({8, 12, 13, 14, 15, 17})


def from_errcode(code: int | None) -> str:
    """The reason of an interrupt callback's ``errcode``."""
    if code is None:
        return OTHER
    if code in _CLEAN:
        return CLEAN_STOP
    if code in _NETWORK:
        return NETWORK
    if 200 <= code < 400:
        return AUTH_OR_BAN
    return OTHER


# Words of the reasons' sentences (267/31083 in English, the console's Chinese), checked in this
# order: a refused push often mentions the client too.
_WORDS: tuple[tuple[str, tuple[str, ...]], ...] = (
    (
        AUTH_OR_BAN,
        (
            "forbid",
            "disabled",
            "blocklist",
            "blacklist",
            "allowlist",
            "whitelist",
            "expir",
            "suspend",
            "overdue",
            "arrear",
            "not allowed",
            "signature",
            "auth",
            "禁",
            "黑名单",
            "白名单",
            "过期",
            "鉴权",
            "欠费",
            "停服",
        ),
    ),
    (
        NETWORK,
        (
            "network",
            "timeout",
            "timed out",
            "no data",
            "网络",
            "超时",
            "无数据",
            "没有数据",
        ),
    ),
    (
        CLEAN_STOP,
        (
            "deletestream",
            "stopped the",
            "actively stopped",
            "client stop",
            "主动断流",
            "主动停止",
        ),
    ),
)


def from_stop_reason(text: str) -> str:
    """The reason of an event-list ``StopReason`` sentence."""
    folded = text.casefold()
    for reason, words in _WORDS:
        if any(word in folded for word in words):
            return reason
    return OTHER


# 267/53310, "Error types".
PUSH_ERROR_TYPES: dict[int, str] = {
    1: "video_timestamp_rollback",
    2: "audio_timestamp_rollback",
    3: "video_timestamp_jump",
    4: "audio_timestamp_jump",
    5: "chunk_size_too_big",
    6: "video_frame_late",
    7: "audio_frame_late",
    8: "video_codec_changed",
    9: "audio_codec_changed",
    10: "video_header_missing",
    11: "audio_header_missing",
}


def push_error_type(code: int) -> str:
    return PUSH_ERROR_TYPES.get(code, OTHER)
