"""Broadcast schedules and quality thresholds in the config: a one-line error for each bad
schedule, the schedules file (read with the config, on every reload), and what planning makes of
them (labels, down_after, one shared Watch per distinct schedule)."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from exporter.config import ConfigError, load_config, parse_config
from exporter.reload import fingerprint
from exporter.runtime.expectations import EXPECT_SCHEDULED
from exporter.runtime.plan import plan

ACCOUNT = "accounts:\n  - name: main\n"
WEEKLY = "weekly: [{days: [mon], start: '19:00', end: '20:00'}]"


def y(text: str) -> str:
    return textwrap.dedent(text).lstrip("\n")


def stream(expect: str) -> str:
    return (
        ACCOUNT
        + f"targets:\n  - domain: d\n    streams:\n      - name: s\n        expect_live: {expect}\n"
    )


AT = "targets[0].streams[0].expect_live"
DAYS_HINT = (
    "(use mon, tue, wed, thu, fri, sat, sun, a range like mon-fri, daily, weekdays or weekends)"
)

# (id, config, the problems, in order)
BAD: list[tuple[str, str, list[str]]] = [
    ("bad-day", stream("{time_zone: UTC, weekly: [{days: [mon, "
                       "mnday], start: '19:00', end: '20:00'}]}"),
     [f'{AT}.weekly[0].days: unknown day "mnday" {DAYS_HINT}']),
    ("days-not-a-list", stream("{time_zone: UTC, weekly: [{days: 3,"
                               " start: '19:00', end: '20:00'}]}"),
     [f"{AT}.weekly[0].days: must be a list of days {DAYS_HINT[:-1]}), got 3"]),
    ("no-days", stream("{time_zone: UTC, weekly: [{days: [], start: '19:00', end: '20:00'}]}"),
     [f"{AT}.weekly[0].days: at least one day is required {DAYS_HINT}"]),
    ("unknown-zone", stream(f"{{time_zone: Europe/Berln, {WEEKLY}}}"),
     [f'{AT}.time_zone: unknown time zone "Europe/Berln" (an IANA name such as Europe/Berlin or'
      " Asia/Shanghai)"]),
    ("unknown-window-zone",
     stream("{weekly: [{days: [mon], start: '19:00', end: '20:00', time_zone: Mars/Olympus}]}"),
     [f'{AT}.weekly[0].time_zone: unknown time zone "Mars/Olympus" (an IANA name such as'
      " Europe/Berlin or Asia/Shanghai)"]),
    ("unquoted-time", stream("{time_zone: UTC, weekly: [{days: "
                             "[mon], start: 19:00, end: '20:00'}]}"),
     [f'{AT}.weekly[0].start: must be a time of day in quotes, like "19:00" (unquoted, YAML reads'
      " 19:00 as the number 1140)"]),
    ("not-a-time", stream("{time_zone: UTC, weekly: [{days: [mon],"
                          " start: '25:00', end: '20:00'}]}"),
     [f'{AT}.weekly[0].start: "25:00" is not a time of day (00:00 to 23:59:59)']),
    ("end-past-24", stream("{time_zone: UTC, weekly: [{days: [mon],"
                           " start: '19:00', end: '24:01'}]}"),
     [f'{AT}.weekly[0].end: "24:01" is not a time of day (00:00 to 24:00)']),
    ("empty-window", stream("{time_zone: UTC, weekly: [{days: [mon],"
                            " start: '19:00', end: '19:00'}]}"),
     [f"{AT}.weekly[0].end: equals start: an empty window (for a whole day write 00:00 to 24:00)"]),
    ("no-zone", stream(f"{{{WEEKLY}}}"),
     [f"{AT}: weekly[0] needs a time zone: set time_zone on the schedule or the window"]),
    ("dated-end-before-start",
     stream("{once: [{start: 2026-12-20T19:00:00+08:00, end: 2026-12-20T18:00:00+08:00}]}"),
     [f"{AT}.once[0].end: 2026-12-20T18:00:00+08:00 is not after start (2026-12-20T19:00:00+08:00):"
      " a dated window does not cross midnight on its own, give the end's date"]),
    ("dated-without-offset", stream("{once: [{start: '2026-12-20T19:00',"
                                    " end: '2026-12-20T22:00'}]}"),
     [f"{AT}: once[0] has a time without a UTC offset: write it like 2026-12-20T19:00:00+08:00,"
      " or set time_zone"]),
    ("dated-only-a-date", stream("{once: [{start: 2026-12-20, end: 2026-12-21}]}"),
     [f"{AT}.once[0].start: must be a date and time like 2026-12-20T19:00:00+08:00, got the date"
      " 2026-12-20",
      f"{AT}.once[0].end: must be a date and time like 2026-12-20T19:00:00+08:00, got the date"
      " 2026-12-21"]),
    ("no-windows", stream("{time_zone: UTC}"),
     [f"{AT}: a schedule needs at least one window (weekly or once), or schedule: NAME"]),
    ("not-a-schedule", stream("weeknights"),
     [f"{AT}: must be true, false, or a schedule (a mapping with weekly/once windows, or schedule:"
      ' NAME), got "weeknights"']),
    ("unknown-key", stream("{time_zone: UTC, weekly: [{day: [mon],"
                           " start: '19:00', end: '20:00'}]}"),
     [f"{AT}.weekly[0].day: unknown key", f"{AT}.weekly[0].days: required key is missing"]),
    ("grace-zero", stream(f"{{time_zone: UTC, start_grace: 0s, {WEEKLY}}}"),
     [f"{AT}.start_grace: must be greater than 0s"]),
    ("unknown-schedule",
     ACCOUNT + f"schedules:\n  news: {{time_zone: UTC, {WEEKLY}}}\n"
     "targets:\n  - domain: d\n    streams:\n      - {name: s, expect_live: {schedule: nesw}}\n",
     [f'{AT}.schedule: unknown schedule "nesw" (known: news; schedules are defined under'
      " schedules or in schedules_file)"]),
    ("schedule-and-windows",
     ACCOUNT + f"schedules:\n  news: {{time_zone: UTC, {WEEKLY}}}\n"
     "targets:\n  - domain: d\n    streams:\n      - {name: "
     "s, expect_live: {schedule: news, time_zone: UTC}}\n",
     [f"{AT}: give either schedule (a named schedule) or windows (weekly, once), not both"]),
    ("bad-named-schedule",
     ACCOUNT + "schedules:\n  news: {time_zone: UTC, weekly: "
               "[{days: [xx], start: '19:00', end: '20:00'}]}\n"
     "targets:\n  - domain: d\n    streams: [s]\n",
     [f'schedules.news.weekly[0].days: unknown day "xx" {DAYS_HINT}']),
    ("bad-schedule-name",
     ACCOUNT + f"schedules:\n  'evening news': {{time_zone: UTC, {WEEKLY}}}\n"
     "targets:\n  - domain: d\n    streams: [s]\n",
     ['schedules["evening news"]: invalid schedule name "evening news" (use 1-64 letters, digits,'
      ' "_", "." or "-")']),
    ("target-level",
     ACCOUNT + "targets:\n  - domain: d\n    expect_live: {time_zone: UTC,"
               " weekly: [{days: [mon], start: '19:00', end: '19:00'}]}\n"
     "    streams: [s]\n",
     ["targets[0].expect_live.weekly[0].end: equals start: an empty window (for a whole day write"
      " 00:00 to 24:00)"]),
    ("quality",
     ACCOUNT + "targets:\n  - domain: d\n    quality: {min_video_bitrate_ratio: "
               "1.5, max_push_restarts: -1}\n    streams: [s]\n",
     ["targets[0].quality.min_video_bitrate_ratio: must be a share between 0 and 1 (e.g. 0.5 for"
      " half), got 1.5",
      "targets[0].quality.max_push_restarts: must be between 0 and 1000 (push restarts per hour),"
      " got -1"]),
]  # fmt: skip


@pytest.mark.parametrize(("text", "problems"), [pytest.param(*c[1:], id=c[0]) for c in BAD])
def test_bad_schedules(text: str, problems: list[str]) -> None:
    with pytest.raises(ConfigError) as caught:
        parse_config(text, env={})
    assert caught.value.problems == problems


GOOD = y(
    """
    accounts:
      - name: main
    schedules:
      news:
        time_zone: Asia/Shanghai
        weekly:
          - {days: mon-fri, start: "19:00", end: "19:45"}
          - {days: [sat], start: "22:30", end: "01:00"}
        start_grace: 2m
    targets:
      - domain: push.example.com
        expect_live: {schedule: news}
        down_after: 3m
        quality: {min_video_bitrate_ratio: 0.4}
        streams:
          - a
          - b
          - {name: always, expect_live: true}
          - {name: never, expect_live: false}
          - {name: c, expect_live: {schedule: news}, quality: {max_push_restarts: 5}}
          - name: final
            down_after: 1m
            expect_live:
              once: [{start: 2026-12-20T19:00:00+08:00, end: 2026-12-20T22:00:00+08:00}]
      - domain: push2.example.com
        streams: [plain]
    """
)


def test_planning_labels_down_after_and_shared_watches() -> None:
    specs = {k.stream: v for k, v in plan(parse_config(GOOD, env={})).specs.items()}
    label = {name: dict(spec.extra).get("expect_live") for name, spec in specs.items()}
    assert label == {
        "a": EXPECT_SCHEDULED,
        "b": EXPECT_SCHEDULED,
        "always": "true",
        "never": "false",
        "c": EXPECT_SCHEDULED,
        "final": EXPECT_SCHEDULED,
        "plain": None,
    }
    assert {name: spec.down_after for name, spec in specs.items()} == {
        "a": 180.0,
        "b": 180.0,
        "always": 180.0,
        "never": None,
        "c": 180.0,
        "final": 60.0,
        "plain": None,
    }
    # Streams of one schedule share one Watch (and one spec), and one Schedule object.
    a, b, c, final = (specs[n].watch for n in ("a", "b", "c", "final"))
    assert a is not None and a is b and specs["a"] is specs["b"]
    assert c is not None and final is not None
    assert c.schedule is a.schedule and a.schedule is not None
    assert a.schedule.name == "news" and a.start_grace == 120.0
    assert a.thresholds == (0.4, None, None)
    assert c.thresholds == (0.4, None, 5)
    assert final.schedule is not None and final.schedule.name is None
    assert final.start_grace is None  # StreamDidNotStart then waits the down_after
    # Thresholds alone make a watch without a schedule; nothing makes none.
    assert specs["always"].watch is not None and specs["always"].watch.schedule is None
    assert specs["plain"].watch is None


def _write(path: Path, text: str) -> Path:
    path.write_text(y(text), encoding="utf-8")
    return path


CONFIG_WITH_FILE = """
    accounts:
      - name: main
    schedules_file: programming.yaml
    targets:
      - domain: d
        streams:
          - {name: news, expect_live: {schedule: news}}
    """


def test_the_schedules_file_is_read_with_the_config_and_on_every_load(tmp_path: Path) -> None:
    config = _write(tmp_path / "config.yaml", CONFIG_WITH_FILE)
    programming = tmp_path / "programming.yaml"
    _write(
        programming,
        """
        schedules:
          news: {time_zone: Europe/Berlin, weekly: [{days: daily, start: "19:00", end: "20:00"}]}
        """,
    )
    first = load_config(config, env={})
    assert first.schedules["news"].weekly[0].start == 19 * 3600
    # The programming team moves the news: the next load (a reload) sees it, and the config
    # counts as changed, so the reload applies it.
    _write(
        programming,
        """
        schedules:
          news: {time_zone: Europe/Berlin, weekly: [{days: daily, start: "18:30", end: "20:00"}]}
        """,
    )
    second = load_config(config, env={})
    assert second.schedules["news"].weekly[0].start == 18 * 3600 + 1800
    assert fingerprint(first) != fingerprint(second)


def test_problems_in_the_schedules_file_name_the_file_and_the_key(tmp_path: Path) -> None:
    config = _write(tmp_path / "config.yaml", CONFIG_WITH_FILE)
    programming = _write(
        tmp_path / "programming.yaml",
        """
        schedules:
          news: {time_zone: UTC, weekly: [{days: [mon, mnday], start: "19:00", end: "20:00"}]}
        extra: 1
        """,
    )
    with pytest.raises(ConfigError) as caught:
        load_config(config, env={})
    # The reference to the broken schedule is not reported a second time.
    assert caught.value.problems == [
        f"schedules_file: {programming}: extra: unknown key",
        f'schedules_file: {programming}: schedules.news.weekly[0].days: unknown day "mnday"'
        f" {DAYS_HINT}",
    ]


def test_a_missing_schedules_file_and_a_name_defined_twice(tmp_path: Path) -> None:
    config = _write(tmp_path / "config.yaml", CONFIG_WITH_FILE)
    with pytest.raises(ConfigError) as caught:
        load_config(config, env={})
    missing = tmp_path / "programming.yaml"
    assert caught.value.problems == [
        f"schedules_file: {missing}: cannot read schedules file: No such file or directory",
        'targets[0].streams[0].expect_live.schedule: unknown schedule "news" (known: none'
        " defined; schedules are defined under schedules or in schedules_file)",
    ]
    _write(
        missing,
        "schedules:\n  news: {time_zone: UTC, once: [{start: "
        "2026-01-01T00:00:00Z, end: 2026-01-02T00:00:00Z}]}\n",
    )
    twice = CONFIG_WITH_FILE.replace(
        "schedules_file:",
        "schedules:\n      news: {time_zone: UTC, " + WEEKLY + "}\n    schedules_file:",
    )
    _write(tmp_path / "config.yaml", twice)
    with pytest.raises(ConfigError) as caught:
        load_config(config, env={})
    assert caught.value.problems == [
        "schedules.news: also defined in schedules_file programming.yaml: keep one"
    ]


def test_models_built_in_code_check_references_too() -> None:
    from exporter.config import Config

    with pytest.raises(ValueError, match='unknown schedule "gone"'):
        Config.model_validate(
            {
                "accounts": [{"name": "a"}],
                "targets": [
                    {"domain": "d", "streams": [{"name": "s", "expect_live": {"schedule": "gone"}}]}
                ],
            }
        )


def test_every_bare_entry_gets_the_targets_spec_wherever_it_is_listed() -> None:
    # Planning builds the spec of a bare entry once per target (plan.configured_streams):
    # entries before it with their own labels or expect_live must not leak into it.
    config = parse_config(
        textwrap.dedent(
            """
            accounts: [{name: a}]
            targets:
              - domain: d.example.com
                labels: {team: x}
                down_after: 2m
                expect_live: true
                streams:
                  - {name: first, labels: {team: y}}
                  - {name: early, expect_live: false}
                  - plain
                  - {name: full}
                  - other
            """
        ),
        env={},
    )
    specs = {k.stream: v for k, v in plan(config).specs.items()}
    assert specs["plain"] is specs["full"] is specs["other"]
    assert specs["plain"].extra == (("expect_live", "true"), ("team", "x"))
    assert specs["plain"].down_after == 120.0
    assert specs["first"].extra == (("expect_live", "true"), ("team", "y"))
    assert specs["early"].extra == (("expect_live", "false"), ("team", "x"))
    assert specs["early"].down_after is None
