"""Reloads coalesce (one running, one queued) and an unchanged config changes nothing."""

from __future__ import annotations

import threading

from exporter.config import parse_config
from exporter.reload import Coalescer, fingerprint


def test_a_burst_of_reload_requests_makes_at_most_two_reloads() -> None:
    started = threading.Event()
    release = threading.Event()
    runs: list[int] = []

    def work() -> int:
        runs.append(len(runs))
        if len(runs) == 1:
            started.set()
            release.wait(10)
        return len(runs)

    reload = Coalescer(work)
    results: list[int] = []
    first = threading.Thread(target=lambda: results.append(reload()))
    first.start()
    assert started.wait(10)
    # 20 requests while the first runs: they all share the one queued reload behind it.
    waiting = [threading.Thread(target=lambda: results.append(reload())) for _ in range(20)]
    for thread in waiting:
        thread.start()
    release.set()
    for thread in [first, *waiting]:
        thread.join(10)
    assert runs == [0, 1]
    assert sorted(results) == [1] + [2] * 20


def test_the_fingerprint_sees_every_change_secrets_included() -> None:
    base = "accounts:\n  - name: a\n    credentials: {secret_id: AKIDx, secret_key: k1}\n"
    targets = "targets:\n  - domain: d.example.com\n    streams: [s]\n"
    one = fingerprint(parse_config(base + targets))
    assert one == fingerprint(parse_config(base + targets))
    assert one != fingerprint(parse_config(base.replace("k1", "k2") + targets))
    assert one != fingerprint(parse_config(base + targets.replace("[s]", "[s, t]")))
    assert "k1" not in one


def test_the_fingerprint_of_schedules_with_dated_windows_and_times() -> None:
    # Dated windows are datetimes and weekly times are times: neither is JSON (a config with
    # `once` windows used to crash the exporter at start).
    config = """
accounts: [{name: a}]
schedules:
  show:
    time_zone: Asia/Shanghai
    weekly: [{days: [mon], start: "19:00", end: "20:00"}]
    once: [{start: 2026-12-20T19:00:00+08:00, end: 2026-12-20T22:00:00+08:00}]
targets: [{domain: d.example.com, streams: [{name: s, expect_live: {schedule: show}}]}]
"""
    one = fingerprint(parse_config(config))
    assert one == fingerprint(parse_config(config))
    assert one != fingerprint(parse_config(config.replace("22:00:00", "23:00:00")))
    assert one != fingerprint(parse_config(config.replace('"20:00"', '"20:30"')))


def test_the_fingerprint_of_a_bare_name_is_its_entry_whichever_way_it_is_written() -> None:
    # Bare entries are digested by name alone (reload.fingerprint); written out in full, the
    # same entry must not look like a change, and anything beyond the name must.
    base = "accounts: [{name: a}]\ntargets:\n  - domain: d.example.com\n    streams: "
    bare = fingerprint(parse_config(base + "[s, t]\n"))
    assert bare == fingerprint(parse_config(base + "[{name: s}, t]\n"))
    assert bare != fingerprint(parse_config(base + "[t, s]\n"))
    assert bare != fingerprint(parse_config(base + "[{name: s, labels: {x: y}}, t]\n"))
    assert bare != fingerprint(parse_config(base + "[{name: s, down_after: 5m}, t]\n"))
    assert bare != fingerprint(parse_config(base + "[{name: s, expect_live: true}, t]\n"))
