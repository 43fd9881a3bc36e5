"""The event-list and callback-audit rounds in process, with a fake clock and a scripted API
(the poller's Rig, whose client also answers the two history actions through ``call``, so
that the answers go through the real parsers)."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

from exporter import cssapi
from exporter.history import CALLBACK, Interrupt
from exporter.model import ApiError, ErrorClass, StreamKey, StreamState
from exporter.polling.history_calls import parse_time
from exporter.polling.history_collector import HistoryCollector
from tests.test_poller import DOMAIN, FakeApi, Rig, config


def iso(t: float) -> str:
    return dt.datetime.fromtimestamp(t, dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class HistoryApi(FakeApi):
    """FakeApi plus the two history actions as the API answers them (one page per call)."""

    def __init__(self) -> None:
        super().__init__()
        self.sessions: list[dict[str, Any]] = []
        self.records: list[dict[str, Any]] = []
        self.asked: list[dict[str, Any]] = []

    def session(
        self, stream: str, start: float, end: float, reason: str, domain: str = DOMAIN
    ) -> None:
        self.sessions.append(
            {
                "AppName": "live",
                "DomainName": domain,
                "StreamName": stream,
                "StreamStartTime": iso(start),
                "StreamEndTime": iso(end),
                "StopReason": reason,
                "Duration": int(end - start),
                "ClientIp": "203.0.113.10",
                "Resolution": "1920*1080",
            }
        )

    def record(self, stream: str, event_type: int, at: float, code: int, sequence: str) -> None:
        body = {"app": DOMAIN, "appname": "live", "stream_id": stream, "event_type": event_type}
        body.update(sequence=sequence, event_time=int(at))
        self.records.append(
            {
                "EventTime": iso(at),
                "EventType": event_type,
                "Request": json.dumps(body),
                "Response": '{"code":0}' if code == 0 else "",
                "ResponseTime": iso(at + 1),
                "ResultCode": code,
                "StreamId": stream,
            }
        )

    def call(
        self, action: str, params: dict[str, Any], parse: Any = None, empty: Any = None
    ) -> Any:
        self.log.append((action, params.get("PageNum")))
        self.asked.append(dict(params, Action=action))
        err = self._error(action)
        if err is not None:
            return err
        start, end = parse_time(params["StartTime"]), parse_time(params["EndTime"])
        assert start is not None and end is not None
        page, size = params["PageNum"], params["PageSize"]
        if action == cssapi.EVENT_LIST:
            assert params["IsAsc"] == 1 and params["IsFilter"] == 1
            hits = sorted(
                (
                    s
                    for s in self.sessions
                    if s["DomainName"] == params["DomainName"]
                    and s["AppName"] == params["AppName"]
                    and start <= (parse_time(s["StreamEndTime"]) or 0) <= end
                ),
                key=lambda s: s["StreamEndTime"],
            )
            name = "EventList"
        else:
            assert action == cssapi.CALLBACK_RECORDS
            hits = [
                r
                for r in self.records
                if r["StreamId"] == params["StreamName"]
                and start <= (parse_time(r["EventTime"]) or 0) <= end
            ]
            name = "DataInfoList"
        response = {
            name: hits[(page - 1) * size : page * size],
            "PageNum": page,
            "PageSize": size,
            "TotalNum": len(hits),
            "TotalPage": -(-len(hits) // size),
        }
        return parse(response)


def history_config(streams: list[Any], state_file: Path | None = None, **account: Any) -> Any:
    cfg: dict[str, Any] = {
        "event_history": {"interval": "1m", "max_pages": 20},
        **account,
    }
    target = {"domain": DOMAIN, "mode": "state", "interval": "1m", "streams": streams}
    built = config([target], **cfg)
    if state_file is not None:
        built = built.model_copy(update={"state_file": str(state_file)})
    return built


def rig_for(cfg: Any, api: HistoryApi | None = None) -> Rig:
    rig = Rig(cfg, api or HistoryApi())
    # The history's idea of "this process started" is the rig's wall clock.
    rig.exposition.history.cursors.started = rig.wall.now
    return rig


def key(stream: str) -> StreamKey:
    return StreamKey("a", DOMAIN, "live", stream)


def interrupts(rig: Rig, stream: str) -> dict[str, int]:
    history = rig.exposition.history.get(key(stream))
    return dict(history.interrupts) if history is not None else {}


def event_calls(rig: Rig) -> int:
    return rig.api.calls[cssapi.EVENT_LIST]


def test_sessions_of_tracked_streams_become_interrupts_counted_once() -> None:
    rig = rig_for(history_config(["s1", "s2"]))
    api = rig.api
    assert isinstance(api, HistoryApi)
    now = rig.wall.now
    api.session("s1", now - 100, now + 30, "客户端主动断流")
    api.session("s2", now - 50, now + 40, "Network error for the push client.")
    api.session("other", now - 50, now + 45, "客户端主动断流")  # not tracked: ignored
    rig.advance(150)  # the first round (at once) saw nothing yet; the next one reads them
    assert interrupts(rig, "s1") == {"clean_stop": 1}
    assert interrupts(rig, "s2") == {"network": 1}
    assert rig.exposition.history.get(key("other")) is None
    last = rig.exposition.history.get(key("s1"))
    assert last is not None and last.last is not None
    assert (last.last.duration, last.last.code, last.last.message) == (
        130.0,
        None,
        "客户端主动断流",
    )
    # Later rounds reread the end of the last one (late records): still counted once.
    before = event_calls(rig)
    rig.advance(240)
    assert event_calls(rig) > before
    assert interrupts(rig, "s1") == {"clean_stop": 1}
    windows = [
        (a["StartTime"], a["EndTime"]) for a in api.asked if a["Action"] == cssapi.EVENT_LIST
    ]
    assert all(a["DomainName"] == DOMAIN and a["AppName"] == "live" for a in api.asked)
    assert len(set(windows)) == len(windows)


def test_the_event_list_fills_in_what_a_callback_left_out_and_counts_nothing_twice() -> None:
    rig = rig_for(history_config(["s1"]))
    api = rig.api
    assert isinstance(api, HistoryApi)
    now = rig.wall.now
    # The interrupt callback came first (its errcode, no duration)...
    told = Interrupt(now + 20, "network", 12, "network error", CALLBACK, None)
    assert rig.exposition.history.interrupted(key("s1"), told)
    # ... the event list has the same session, ending two seconds apart.
    api.session("s1", now - 600, now + 22, "Network error for the push client.")
    rig.advance(150)
    history = rig.exposition.history.get(key("s1"))
    assert history is not None and history.last is not None
    assert dict(history.interrupts) == {"network": 1}
    assert (history.last.code, history.last.duration) == (12, 622.0)


def test_a_round_reads_at_most_its_pages_and_the_next_goes_on() -> None:
    rig = rig_for(
        history_config(
            [f"s{i:03d}" for i in range(250)], event_history={"interval": "1m", "max_pages": 1}
        )
    )
    api = rig.api
    assert isinstance(api, HistoryApi)
    now = rig.wall.now
    for i in range(250):
        api.session(f"s{i:03d}", now - 1000, now + 10 + i * 0.1, "客户端主动断流")
    rig.advance(150)  # the round at 2m reads [start, start + 1m]: one page of it
    counted = sum(1 for i in range(250) if interrupts(rig, f"s{i:03d}"))
    assert counted == 100  # one page of 100 in the round that saw them
    rig.advance(180)  # three more rounds, a page each: the rest, each once
    assert all(interrupts(rig, f"s{i:03d}") == {"clean_stop": 1} for i in range(250))


def test_a_failed_page_leaves_the_window_to_the_next_round() -> None:
    rig = rig_for(history_config(["s1"]))
    api = rig.api
    assert isinstance(api, HistoryApi)
    now = rig.wall.now
    api.session("s1", now - 100, now + 30, "Network error")
    denied = ApiError("AuthFailure.UnauthorizedOperation", ErrorClass.AUTH, "CAM")
    rig.advance(61)  # the first round: nothing to read yet
    api.errors[cssapi.EVENT_LIST] = [denied]
    rig.advance(60)
    assert interrupts(rig, "s1") == {}
    rig.advance(300)  # once the back-off is over, the window is read again
    assert interrupts(rig, "s1") == {"network": 1}


def test_a_restart_in_an_outage_backfills_the_gap_from_the_state_file(tmp_path: Path) -> None:
    state = tmp_path / "state.json"
    api = HistoryApi()
    first = rig_for(history_config(["s1"], state), api)
    start = first.wall.now
    api.session("s1", start - 500, start + 30, "Network error for the push client.")
    first.advance(300)
    assert interrupts(first, "s1") == {"network": 1}
    saved = json.loads(state.read_text())
    assert saved["version"] == 1 and saved["event_list"][f"a/{DOMAIN}/live"] > start
    # The exporter stops; during the gap the stream comes back and fails again.
    down_at = first.wall.now
    api.session("s1", down_at + 60, down_at + 400, "Network error for the push client.")
    second = rig_for(history_config(["s1"], state), api)
    second.wall.now = down_at + 900
    second.clock.now = first.clock.now + 900
    second.exposition.history.cursors.started = second.wall.now
    second.advance(5)  # the first round after the restart reads the gap at once
    # The gap's interrupt is counted; the one the first process counted is not, again.
    assert interrupts(second, "s1") == {"network": 1}
    assert [a["StartTime"] for a in api.asked][-1] == iso(saved["event_list"][f"a/{DOMAIN}/live"])
    # Without a state file the new process starts at its start: the gap is not counted.
    third = rig_for(history_config(["s1"]), api)
    third.wall.now = down_at + 900
    third.exposition.history.cursors.started = third.wall.now
    third.advance(200)
    assert interrupts(third, "s1") == {}


def test_the_callback_audit_finds_refused_and_lost_callbacks() -> None:
    rig = rig_for(
        history_config(
            ["s1", {"name": "s2", "expect_live": True}, "quiet"],
            callback_keys=["audit-key"],
            callback_audit={"interval": "5m", "max_streams": 5},
        )
    )
    api = rig.api
    assert isinstance(api, HistoryApi)
    history = rig.exposition.history
    now = rig.wall.now

    api.states["s1"] = StreamState.ACTIVE  # s1 goes on air, seen by a state poll
    # What CSS says it sent for s1: a push this exporter accepted, one it refused (a retry it
    # then got), and one it never got. s2 (expected live) is audited too; "quiet" is not.
    history.accepted(key("s1"), 1, "1001", now + 100)
    api.record("s1", 1, now + 100, 0, "1001")
    api.record("s1", 1, now + 120, 1, "1002")
    api.record("s1", 1, now + 150, 0, "1003")
    api.record("s1", 100, now + 160, 0, "1004")  # a recording callback: not ours
    rig.advance(620)  # audits at 5m ([start, start + 3m]) and 10m
    audited = [a["StreamName"] for a in api.asked if a["Action"] == cssapi.CALLBACK_RECORDS]
    assert "s1" in audited and "s2" in audited and "quiet" not in audited
    counts = dict(history.audit.snapshot()["a"].counts)
    assert counts == {"delivered": 1, "not_received": 1, "refused": 1}
    collected = {
        (s.name, s.labels.get("result")): s.value
        for family in HistoryCollector(history).collect()
        for s in family.samples
    }
    assert collected[("tencent_live_callback_audit_total", "refused")] == 1.0
    assert collected[("tencent_live_callback_audit_last_timestamp_seconds", None)] > now


def test_no_history_round_without_a_client_that_makes_generic_calls() -> None:
    rig = Rig(history_config(["s1"]), FakeApi())
    rig.advance(400)
    assert rig.api.calls[cssapi.EVENT_LIST] == 0
