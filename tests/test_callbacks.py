"""The pure core of the CSS callback receiver: official samples, signatures, expiry, ordering,
size limits and a corpus of malformed bodies."""

from __future__ import annotations

import hashlib
import hmac
import json
import re
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import pytest

from exporter.callbacks import (
    MAX_BODY_BYTES,
    OK_BODY,
    REASONS,
    CallbackEvent,
    EventType,
    Rejection,
    check_content_type,
    check_length,
    check_method,
    parse_callback,
    sign,
)
from exporter.callbacks import validate as callbacks
from exporter.simulator.callbacks import build_callbacks, callback_sign
from exporter.simulator.model import ACTIVE, INACTIVE, Quality
from exporter.simulator.world import StateChange
from exporter.state import callback_newer

CORPUS = Path(__file__).parent / "corpus" / "callbacks"
KEY = "test-callback-key"
OLD_KEY = "retired-callback-key"
DOMAIN = "test.domain.com"
PUSH_ERROR_DOMAIN = "xxxx.xxxxx.xxxx.xxxx"
# After both official events (1703731478, 1703731606), before both official t (1703732078,
# 1703732206): the official samples keep their own t.
NOW = 1703731610.0


def keys_for(domain: str) -> Sequence[str]:
    return {DOMAIN: (KEY,), PUSH_ERROR_DOMAIN: (KEY,)}.get(domain, ())


def parse(
    body: bytes,
    *,
    content_type: str | None = "application/json",
    keys: Callable[[str], Sequence[str]] = keys_for,
    now: float = NOW,
) -> CallbackEvent | Rejection:
    return parse_callback(body, content_type=content_type, keys_for=keys, now=now)


def rejected(result: CallbackEvent | Rejection) -> Rejection:
    assert isinstance(result, Rejection), result
    return result


def accepted(result: CallbackEvent | Rejection) -> CallbackEvent:
    assert isinstance(result, CallbackEvent), result
    return result


def official(name: str) -> bytes:
    return (CORPUS / name).read_bytes()


def resign(raw: bytes, key: str = KEY, *, t: int | None = None) -> bytes:
    """The body with ``sign`` (and ``t`` if given) replaced in its text; the rest stays verbatim."""
    text = raw.decode("utf-8")
    if t is not None:
        text, count = re.subn(r'"t":\s*\d+', f'"t":{t}', text)
        assert count == 1
    found = re.search(r'"t":\s*(\d+)', text)
    assert found is not None
    text, count = re.subn(r'"sign":\s*"[^"]*"', f'"sign":"{sign(key, int(found.group(1)))}"', text)
    assert count == 1
    return text.encode("utf-8")


def signed_push_error(t: int) -> bytes:
    """The official 321 sample, which has no t and no sign, with both added at the front."""
    text = official("official_push_error.json").decode("utf-8")
    assert text.startswith("{\n")
    head = f'{{\n    "t":{t},\n    "sign":"{sign(KEY, t)}",\n'
    return (head + text[2:]).encode("utf-8")


def body(**changes: Any) -> bytes:
    """The official push sample, re-signed, with fields changed (None value: field removed)."""
    obj = json.loads(resign(official("official_push.json")))
    for name, value in changes.items():
        if value is None:
            obj.pop(name, None)
        else:
            obj[name] = value
    return json.dumps(obj).encode()


PUSH = CallbackEvent(
    event=EventType.PUSH,
    domain="test.domain.com",
    app="live",
    stream="test_stream",
    event_time=1703731478.0,
    sequence="2210464508206756938",
    appid=12345678,
    errcode=0,
    errmsg="ok",
    push_duration_ms=None,
    user_ip="1.1.1.1",
    node="42.81.194.37",
)
INTERRUPT = CallbackEvent(
    event=EventType.INTERRUPT,
    domain="test.domain.com",
    app="live",
    stream="test_stream",
    event_time=1703731606.0,
    sequence="2210464508206756938",
    appid=12345678,
    errcode=1,
    errmsg="The push client actively stopped the push",
    push_duration_ms=128581,
    user_ip="1.1.1.1",
    node="42.81.194.37",
)


# --- the official samples ---------------------------------------------------------------------


def test_official_push_sample_parses() -> None:
    assert parse(resign(official("official_push.json"))) == PUSH


def test_official_interrupt_sample_parses() -> None:
    assert parse(resign(official("official_interrupt.json"))) == INTERRUPT


def test_official_samples_are_resigned_only() -> None:
    for name in ("official_push.json", "official_interrupt.json"):
        original = json.loads(official(name))
        resigned = json.loads(resign(official(name)))
        assert original["t"] > NOW  # the documented t is still in the future of our fixed now
        assert {k: v for k, v in resigned.items() if k != "sign"} == {
            k: v for k, v in original.items() if k != "sign"
        }
        assert resigned["sign"] == hashlib.md5(f"{KEY}{original['t']}".encode()).hexdigest()


@pytest.mark.parametrize("name", ["official_push.json", "official_interrupt.json"])
def test_official_samples_verbatim_fail_on_their_masked_sign(name: str) -> None:
    result = rejected(parse(official(name)))
    assert (result.reason, result.status) == ("bad_sign", 401)


def test_official_push_error_sample_unsigned_is_refused() -> None:
    # Tencent's 321 sample carries no t and no sign; an unsigned body is never accepted.
    result = rejected(parse(official("official_push_error.json"), now=1670588075))
    assert (result.reason, result.status, result.message) == (
        "missing_field",
        400,
        "missing field t",
    )


def test_official_push_error_sample_signed_parses() -> None:
    result = parse(signed_push_error(1670588675), now=1670588075.5)
    assert result == CallbackEvent(
        event=EventType.PUSH_ERROR,
        domain="xxxx.xxxxx.xxxx.xxxx",
        app="xxxx",
        stream="xxxxxx",
        event_time=1670588074.971,
        sequence="000000000000000000",
        appid=0,
        errcode=None,
        errmsg="",
        push_duration_ms=None,
        user_ip="",
        node="",
        # abnormal_event: type 6 (video frames late) twice, type 7 (audio frames late) twice.
        abnormal=((6, 2), (7, 2)),
    )


def test_simulator_callbacks_are_accepted() -> None:
    """The simulator's sender and this receiver agree on the format."""
    quality = Quality()
    start = StateChange("push.example.com", "live", "s1", INACTIVE, ACTIVE, 1000.0, 900.0, quality)
    stop = StateChange("push.example.com", "live", "s1", ACTIVE, INACTIVE, 1130.5, 1000.0, quality)
    events = []
    for change in (start, stop):
        (sent,) = build_callbacks(change, key=KEY, appid=7, wall_now=change.at)
        events.append(
            accepted(
                parse(
                    json.dumps(sent).encode(),
                    keys=lambda domain: (KEY,) if domain == "push.example.com" else (),
                    now=change.at + 1,
                )
            )
        )
    pushed, stopped = events
    assert (pushed.event, pushed.stream, pushed.event_time, pushed.errcode) == (
        EventType.PUSH,
        "s1",
        1000.0,
        0,
    )
    assert (stopped.event, stopped.event_time, stopped.push_duration_ms) == (
        EventType.INTERRUPT,
        1130.0,
        130500,
    )
    assert pushed.sequence == stopped.sequence
    assert (pushed.user_ip, pushed.node) == (quality.client_ip, quality.server_ip)


# --- signature ----------------------------------------------------------------------------------


def test_sign_is_md5_of_key_and_t() -> None:
    assert sign("key", 1703732078) == hashlib.md5(b"key1703732078").hexdigest()
    assert sign(KEY, 5) == callback_sign(KEY, 5)
    assert OK_BODY == b'{"code":0}'


def test_wrong_sign_is_401_and_never_echoed() -> None:
    wrong = resign(official("official_push.json"), key="not-the-key")
    result = rejected(parse(wrong))
    assert (result.reason, result.status) == ("bad_sign", 401)
    assert "test.domain.com" in result.message
    assert sign("not-the-key", 1703732078) not in result.message
    assert KEY not in result.message


def test_key_rotation_accepts_any_configured_key() -> None:
    def both(domain: str) -> Sequence[str]:
        return (OLD_KEY, KEY)

    assert parse(resign(official("official_push.json"), OLD_KEY), keys=both) == PUSH
    assert parse(resign(official("official_push.json"), KEY), keys=both) == PUSH
    result = rejected(parse(resign(official("official_push.json"), "third-key"), keys=both))
    assert result.reason == "bad_sign"


def test_every_key_is_compared_even_after_a_match(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[bytes] = []
    real = hmac.compare_digest

    def counting(a: bytes, b: bytes) -> bool:
        calls.append(a)
        return real(a, b)

    monkeypatch.setattr(callbacks.hmac, "compare_digest", counting)

    def three(domain: str) -> Sequence[str]:
        return (KEY, OLD_KEY, "third-key")

    assert parse(resign(official("official_push.json"), KEY), keys=three) == PUSH
    assert len(calls) == 3
    calls.clear()
    rejected(parse(resign(official("official_push.json"), "nobody"), keys=three))
    assert len(calls) == 3


def test_domain_without_keys_is_refused() -> None:
    result = rejected(parse(resign(official("official_push.json")), keys=lambda domain: ()))
    assert (result.reason, result.status, result.message) == (
        "bad_sign",
        401,
        "no callback key configured for domain test.domain.com",
    )


def test_keys_are_looked_up_by_the_push_domain() -> None:
    asked: list[str] = []

    def recording(domain: str) -> Sequence[str]:
        asked.append(domain)
        return (KEY,)

    accepted(parse(resign(official("official_push.json")), keys=recording))
    assert asked == ["test.domain.com"]


# --- expiry -------------------------------------------------------------------------------------


def test_expired_t_is_acknowledged_not_applied() -> None:
    # CSS retries any non-200 answer 12 times: an authentic callback that has expired is
    # answered 200 (and counted as expired), never applied.
    raw = resign(official("official_push.json"))  # t = 1703732078
    result = rejected(parse(raw, now=1703732078.5))
    assert (result.reason, result.status) == ("expired", 200)
    assert "t=1703732078" in result.message
    assert parse(raw, now=1703732078.0) == PUSH  # t itself is still valid


def test_t_far_in_the_future_is_refused() -> None:
    t = int(NOW) + 86401
    result = rejected(parse(resign(official("official_push.json"), t=t)))
    assert (result.reason, result.status) == ("bad_field", 400)
    assert result.message.startswith("field t: ")
    assert accepted(parse(resign(official("official_push.json"), t=int(NOW) + 86400)))


def test_t_may_be_a_decimal_string() -> None:
    raw = body(t="1703732078")
    assert parse(raw) == PUSH


# --- order of checks ----------------------------------------------------------------------------


def test_checks_run_in_order() -> None:
    huge = b"{" + b" " * MAX_BODY_BYTES + b"}"
    assert rejected(parse(huge, content_type="text/html")).reason == "too_large"
    assert rejected(parse(b"not json", content_type="text/html")).reason == "bad_content_type"
    assert rejected(parse(b"[]")).reason == "bad_json"
    # An event type the exporter does not handle: refused unless signed, acknowledged if signed.
    assert rejected(parse(body(event_type=7, sign="0" * 32))).reason == "bad_sign"
    assert rejected(parse(body(event_type=7))).reason == "unhandled_event"
    assert rejected(parse(body(event_type="7", sign="0" * 32))).reason == "bad_field"
    expired_unsigned = body(sign="0" * 32)
    assert rejected(parse(expired_unsigned, now=NOW + 10**6)).reason == "bad_sign"
    assert rejected(parse(body(), now=NOW + 10**6)).reason == "expired"


# --- duplicates and out-of-order deliveries ---------------------------------------------------


def test_duplicates_and_out_of_order_deliveries_never_go_backwards() -> None:
    push = accepted(parse(resign(official("official_push.json"))))
    stop = accepted(parse(resign(official("official_interrupt.json"))))
    # CSS retries: the interrupt arrives, then a late retry of the push, then the interrupt again.
    deliveries = [push, stop, push, stop, push]
    last: tuple[float, str, int] | None = None
    applied: list[EventType] = []
    for event in deliveries:
        rank = 0 if event.event is EventType.PUSH else 1
        if callback_newer(event.event_time, event.sequence, rank, last):
            applied.append(event.event)
            last = (event.event_time, event.sequence, rank)
    assert applied == [EventType.PUSH, EventType.INTERRUPT]


@pytest.mark.parametrize(
    ("event_time", "sequence", "last", "newer"),
    [
        (100.0, "5", None, True),  # first event
        (101.0, "5", (100.0, "5"), True),  # later time, same session
        (99.0, "9", (100.0, "5"), False),  # earlier time: out of order, whatever the sequence
        (100.0, "5", (100.0, "5"), False),  # equal pair: duplicate
        # Another session in the same second: sequences are ids, so arrival order decides.
        (100.0, "4", (100.0, "5"), True),
        (100.0, "6674468118806626493", (100.0, "2210464508206756938"), True),
    ],
)
def test_callback_order(
    event_time: float, sequence: str, last: tuple[float, str] | None, newer: bool
) -> None:
    mark = None if last is None else (*last, 0)
    assert bool(callback_newer(event_time, sequence, 0, mark)) is newer


# --- size, method, content type -----------------------------------------------------------------


def test_ten_megabyte_body_is_too_large() -> None:
    ten_mb = 10 * 1024 * 1024
    result = rejected(parse(b"{" + b" " * (ten_mb - 2) + b"}"))
    assert (result.reason, result.status) == ("too_large", 413)
    assert str(ten_mb) in result.message
    header = check_length(str(ten_mb))
    assert header is not None
    assert (header.reason, header.status) == ("too_large", 413)


def test_body_at_the_limit_is_read() -> None:
    raw = body()
    padded = raw[:-1] + b" " * (MAX_BODY_BYTES - len(raw)) + b"}"
    assert len(padded) == MAX_BODY_BYTES
    assert parse(padded) == PUSH
    assert rejected(parse(padded + b" ")).reason == "too_large"


@pytest.mark.parametrize(
    ("header", "reason", "status"),
    [
        (None, "bad_length", 411),
        ("", "bad_length", 400),
        ("abc", "bad_length", 400),
        ("-1", "bad_length", 400),
        ("1e3", "bad_length", 400),
        ("10, 10", "bad_length", 400),
        ("9" * 40, "bad_length", 400),
        (str(MAX_BODY_BYTES + 1), "too_large", 413),
    ],
)
def test_check_length_refuses(header: str | None, reason: str, status: int) -> None:
    result = check_length(header)
    assert result is not None
    assert (result.reason, result.status) == (reason, status)
    assert "\n" not in result.message


@pytest.mark.parametrize("header", ["0", "512", " 512 ", str(MAX_BODY_BYTES)])
def test_check_length_accepts(header: str) -> None:
    assert check_length(header) is None


def test_check_method() -> None:
    assert check_method("POST") is None
    for method in ("GET", "PUT", "post", "HEAD"):
        result = check_method(method)
        assert result is not None
        assert (result.reason, result.status) == ("bad_method", 405)


@pytest.mark.parametrize(
    "content_type",
    [
        None,
        "",
        "application/json",
        "application/json; charset=utf-8",
        "Application/JSON; Charset=UTF-8",
        'application/json; charset="utf-8"',
        "text/json",
        "application/vnd.tencent+json",
    ],
)
def test_json_content_types_are_accepted(content_type: str | None) -> None:
    assert check_content_type(content_type) is None
    assert parse(body(), content_type=content_type) == PUSH


@pytest.mark.parametrize(
    "content_type",
    [
        "text/html",
        "text/plain",
        "application/x-www-form-urlencoded",
        "multipart/form-data; boundary=x",
        "application/json; charset=gbk",
    ],
)
def test_other_content_types_are_refused(content_type: str) -> None:
    result = rejected(parse(body(), content_type=content_type))
    assert (result.reason, result.status) == ("bad_content_type", 415)


# --- JSON -------------------------------------------------------------------------------------


def test_invalid_json() -> None:
    result = rejected(parse(b'{"t": 1703732078, "sign": '))
    assert (result.reason, result.status) == ("bad_json", 400)
    assert result.message.startswith("body is not JSON: ")


def test_non_utf8_body() -> None:
    raw = body(stream_id="cafX").replace(b'"cafX"', b'"caf\xe9"')  # Latin-1 é
    result = rejected(parse(raw))
    assert result.reason == "bad_json"
    assert "not UTF-8" in result.message


def test_json_array_body() -> None:
    result = rejected(parse(b"[" + body() + b"]"))
    assert (result.reason, result.message) == ("bad_json", "body is an array, want a JSON object")


# --- fields -------------------------------------------------------------------------------------


WRONG_TYPES: list[Any] = [[], {}, True, 1.5]


@pytest.mark.parametrize(
    "field",
    [
        "t",
        "sign",
        "event_type",
        "app",
        "appname",
        "stream_id",
        "event_time",
        "sequence",
        "appid",
        "errcode",
        "errmsg",
        "push_duration",
        "user_ip",
        "node",
    ],
)
@pytest.mark.parametrize("value", WRONG_TYPES, ids=["array", "object", "bool", "float"])
def test_every_field_type_error_names_the_field(field: str, value: Any) -> None:
    base = "official_interrupt.json" if field == "push_duration" else "official_push.json"
    obj = json.loads(resign(official(base)))
    obj[field] = value
    result = rejected(parse(json.dumps(obj).encode()))
    assert (result.reason, result.status) == ("bad_field", 400)
    assert result.message.startswith(f"field {field}: "), result.message
    assert sign(KEY, 1703732078) not in result.message


@pytest.mark.parametrize(
    "field", ["t", "sign", "event_type", "app", "appname", "stream_id", "event_time", "sequence"]
)
def test_every_required_field(field: str) -> None:
    result = rejected(parse(body(**{field: None})))
    assert (result.reason, result.status, result.message) == (
        "missing_field",
        400,
        f"missing field {field}",
    )


def test_optional_fields_may_be_absent_or_null() -> None:
    absent = body(appid=None, errcode=None, errmsg=None, user_ip=None, node=None)
    assert parse(absent) == CallbackEvent(
        event=EventType.PUSH,
        domain="test.domain.com",
        app="live",
        stream="test_stream",
        event_time=1703731478.0,
        sequence="2210464508206756938",
        appid=None,
        errcode=None,
        errmsg="",
        push_duration_ms=None,
        user_ip="",
        node="",
    )
    obj = json.loads(body())
    obj.update(appid=None, errcode=None, errmsg=None, user_ip=None, node=None)
    assert parse(json.dumps(obj).encode()) == parse(absent)


def test_accepted_spellings() -> None:
    event = accepted(
        parse(body(event_time="1703731478", sequence=42, appid="12345678", errcode="-3"))
    )
    assert (event.event_time, event.sequence, event.appid, event.errcode) == (
        1703731478.0,
        "42",
        12345678,
        -3,
    )
    interrupt = json.loads(resign(official("official_interrupt.json")))
    interrupt["push_duration"] = 5000
    assert accepted(parse(json.dumps(interrupt).encode())).push_duration_ms == 5000
    del interrupt["push_duration"]
    assert accepted(parse(json.dumps(interrupt).encode())).push_duration_ms is None
    # push_duration belongs to interrupts only
    assert accepted(parse(body(push_duration="100"))).push_duration_ms is None


# --- the corpus of malformed callbacks --------------------------------------------------------

# file -> (reason, status, fragment the message must contain)
BAD: dict[str, tuple[str, int, str]] = {
    "empty.json": ("bad_json", 400, "body is empty"),
    "whitespace_only.json": ("bad_json", 400, "body is empty"),
    "form_encoded.json": ("bad_json", 400, "body is not JSON: Expecting value"),
    "truncated.json": ("bad_json", 400, "body is not JSON: Unterminated string"),
    "array.json": ("bad_json", 400, "body is an array"),
    "string.json": ("bad_json", 400, "body is a string"),
    "number.json": ("bad_json", 400, "body is a number"),
    "null.json": ("bad_json", 400, "body is null"),
    "non_utf8.bin": ("bad_json", 400, "body is not UTF-8: byte 0xe9"),
    "utf8_bom.json": ("bad_json", 400, "Unexpected UTF-8 BOM"),
    "nan.json": ("bad_json", 400, "NaN is not JSON"),
    "duplicate_key.json": ("bad_json", 400, 'duplicate key "t"'),
    "deep_nesting.json": ("bad_json", 400, "nested too deeply"),
    "missing_t.json": ("missing_field", 400, "missing field t"),
    "missing_sign.json": ("missing_field", 400, "missing field sign"),
    "missing_event_type.json": ("missing_field", 400, "missing field event_type"),
    "missing_app.json": ("missing_field", 400, "missing field app"),
    "missing_appname.json": ("missing_field", 400, "missing field appname"),
    "missing_stream_id.json": ("missing_field", 400, "missing field stream_id"),
    "missing_event_time.json": ("missing_field", 400, "missing field event_time"),
    "missing_sequence.json": ("missing_field", 400, "missing field sequence"),
    "push_error_missing_domain.json": ("missing_field", 400, "missing field domain"),
    # Authentic but not an event the exporter handles: acknowledged, so that CSS stops retrying.
    "event_type_7.json": ("unhandled_event", 200, "event_type 7 is not handled"),
    "event_type_string.json": ("bad_field", 400, 'field event_type: want 0, 1 or 321, got "1"'),
    "event_type_bool.json": ("bad_field", 400, "field event_type: want 0, 1 or 321, got true"),
    "event_type_null.json": ("bad_field", 400, "field event_type: want 0, 1 or 321, got null"),
    "t_float.json": ("bad_field", 400, "field t: want a non-negative integer"),
    "t_negative.json": ("bad_field", 400, "field t: want a non-negative integer"),
    "t_word.json": (
        "bad_field",
        400,
        'field t: want a non-negative integer or decimal string, got "soon"',
    ),
    "t_leading_zero.json": ("bad_field", 400, 'got "01703732078"'),
    "sign_number.json": ("bad_field", 400, "field sign: want a string, got a number"),
    "app_not_hostname.json": ("bad_field", 400, 'field app: want a host name, got "not a host!"'),
    "app_url.json": ("bad_field", 400, "field app: want a host name"),
    "app_empty.json": ("bad_field", 400, "field app: want a non-empty string"),
    "appname_newline.json": ("bad_field", 400, "field appname: control character U+000A"),
    "stream_id_number.json": ("bad_field", 400, "field stream_id: want a string, got 123"),
    "stream_id_null.json": ("bad_field", 400, "field stream_id: want a string, got null"),
    "stream_id_lone_surrogate.json": ("bad_field", 400, "field stream_id: lone surrogate U+D800"),
    "stream_id_del.json": ("bad_field", 400, "field stream_id: control character U+007F"),
    "event_time_word.json": (
        "bad_field",
        400,
        'field event_time: want a non-negative integer or decimal string, got "yesterday"',
    ),
    "event_time_zero.json": ("bad_field", 400, "field event_time: want a positive Unix time"),
    "sequence_bool.json": ("bad_field", 400, "field sequence: want a string or a non-negative"),
    "sequence_empty.json": ("bad_field", 400, "field sequence: want a non-empty string"),
    "sequence_object.json": (
        "bad_field",
        400,
        "field sequence: want a string or a non-negative integer, got an object",
    ),
    "appid_word.json": (
        "bad_field",
        400,
        'field appid: want a non-negative integer or decimal string, got "my-app"',
    ),
    "errcode_float.json": (
        "bad_field",
        400,
        "field errcode: want an integer or decimal string, got 1.5",
    ),
    "errmsg_number.json": ("bad_field", 400, "field errmsg: want a string, got 7"),
    "push_duration_word.json": (
        "bad_field",
        400,
        'field push_duration: want a non-negative integer or decimal string, got "long"',
    ),
    "push_duration_negative.json": (
        "bad_field",
        400,
        'field push_duration: want a non-negative integer or decimal string, got "-5"',
    ),
    "user_ip_object.json": ("bad_field", 400, "field user_ip: want a string, got an object"),
    "node_array.json": ("bad_field", 400, "field node: want a string, got an array"),
    "sign_wrong_key.json": (
        "bad_sign",
        401,
        "sign does not match a callback key for domain test.domain.com",
    ),
    "sign_uppercase.json": ("bad_sign", 401, "sign does not match"),
    "sign_for_other_t.json": ("bad_sign", 401, "sign does not match"),
    "sign_empty.json": ("bad_sign", 401, "sign does not match"),
    "sign_official_masked.json": ("bad_sign", 401, "sign does not match"),
    "unknown_domain.json": (
        "bad_sign",
        401,
        "no callback key configured for domain other.example.com",
    ),
    "expired.json": ("expired", 200, "callback expired: t=1703731609 is 1 s in the past"),
    "expired_and_wrong_sign.json": ("bad_sign", 401, "sign does not match"),
    "t_far_future.json": ("bad_field", 400, "field t: 1703818011 is 86401 s in the future"),
    "t_far_future_unsigned.json": ("bad_sign", 401, "sign does not match"),
}


def test_corpus_and_table_agree() -> None:
    files = {path.name for path in (CORPUS / "bad").iterdir()}
    assert files == set(BAD)
    assert len(files) >= 20


@pytest.mark.parametrize("name", sorted(BAD))
def test_bad_corpus(name: str) -> None:
    reason, status, fragment = BAD[name]
    raw = (CORPUS / "bad" / name).read_bytes()
    result = rejected(parse(raw))
    assert (result.reason, result.status) == (reason, status), result
    assert fragment in result.message
    assert result.reason in REASONS
    assert "\n" not in result.message and len(result.message) < 200
    assert KEY not in result.message
    sent_sign = re.search(rb'"sign":\s*"([^"]*)"', raw)
    if sent_sign and sent_sign.group(1):
        assert sent_sign.group(1).decode("utf-8", "replace") not in result.message


@pytest.mark.parametrize(("field", "cap"), [("stream_id", 256), ("appname", 128)])
def test_names_longer_than_the_config_allows_are_refused_and_counted(field: str, cap: int) -> None:
    assert accepted(parse(body(**{field: "x" * cap})))
    result = rejected(parse(body(**{field: "x" * (cap + 1)})))
    assert (result.reason, result.status) == ("too_long", 400)
    assert result.message == f"field {field}: longer than {cap} characters"
    assert "too_long" in REASONS


def test_metrics_doc_names_every_callback_result() -> None:
    doc = (Path(__file__).parent.parent / "docs" / "metrics.md").read_text(encoding="utf-8")
    row = next(x for x in doc.splitlines() if x.startswith("| `tencent_live_callback_requests_"))
    results = ("accepted", "duplicate", "out_of_order", "unknown_stream", *REASONS)
    assert [r for r in results if f"`{r}`" not in row] == []
