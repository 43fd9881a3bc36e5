"""Pure list-round decisions: mode choice, paging consistency, what a round says per stream."""

from __future__ import annotations

import pytest

from exporter.client import Page
from exporter.rounds import (
    AUTO_STATE_MAX_STREAMS,
    Assembler,
    ListResult,
    assemble,
    choose_mode,
    expired,
    forbidden_in,
    list_costs_more,
    plan_round,
)

D = "push.example.com"


def page(names: list[str], total: int, app: str = "live") -> Page:
    return Page([(D, app, n) for n in names], total, max(1, -(-total // 2)))


@pytest.mark.parametrize(
    ("mode", "streams", "discovers", "expected"),
    [
        ("auto", 1, False, "state"),
        ("auto", AUTO_STATE_MAX_STREAMS, False, "state"),
        ("auto", AUTO_STATE_MAX_STREAMS + 1, False, "online_list"),
        ("auto", 0, True, "online_list"),
        ("state", 10_000, False, "state"),
        ("online_list", 1, False, "online_list"),
    ],
)
def test_choose_mode(mode: str, streams: int, discovers: bool, expected: str) -> None:
    assert choose_mode(mode, streams, discovers) == expected


def test_list_costs_more_compares_calls_per_second() -> None:
    # 100 pages a minute versus 20 streams a minute: poll the 20 streams.
    assert list_costs_more(100, 20, 60, 60)
    assert not list_costs_more(1, 20, 60, 60)


@pytest.mark.parametrize(
    ("pages", "names", "consistent"),
    [
        ([], set(), True),
        ([page(["a", "b"], 4), page(["c", "d"], 4)], {"a", "b", "c", "d"}, True),
        # b stopped between the pages: c moved onto page 1 and was never seen.
        ([page(["a", "b"], 4), page(["d"], 3)], {"a", "b", "d"}, False),
        # x started between the pages: b moved onto page 2 and was seen twice.
        ([page(["a", "b"], 4), page(["b", "c", "d"], 5)], {"a", "b", "c", "d"}, False),
        # Same total, a duplicate: one stream was missed.
        ([page(["a", "b"], 4), page(["b", "c"], 4)], {"a", "b", "c"}, False),
        # Streams of another app are not this target's.
        ([Page([(D, "live", "a"), (D, "game", "z")], 2, 1)], {"a"}, True),
        # The same name with and without the app is two entries, not a duplicate.
        ([Page([(D, "live", "a"), (D, "", "a")], 2, 1)], {"a"}, True),
        # A duplicate of another app's stream still means the list moved.
        ([Page([(D, "live", "a"), (D, "game", "z"), (D, "game", "z")], 3, 1)], {"a"}, False),
    ],
)
def test_assemble_detects_a_list_that_moved_while_paged(
    pages: list[Page], names: set[str], consistent: bool
) -> None:
    result = assemble(pages, "live")
    assert (set(result.names), result.consistent) == (names, consistent)


def test_assembler_keeps_the_callers_name_objects_not_the_parsed_copies() -> None:
    pages = [page(["s0", "s1"], 4), page(["s2", "new"], 4)]
    mine = {"".join(("s", str(i))) for i in range(3)}  # equal to the page's names, other objects
    canonical = {n: n for n in mine}
    interning = Assembler("live", lambda n: canonical.get(n, n))
    plain = Assembler("live")
    for p in pages:
        interning.add(p)
        plain.add(p)
    result = interning.result()
    assert result == plain.result() == assemble(pages, "live")
    assert result.pages == 2 and result.names == {"s0", "s1", "s2", "new"}
    kept = {n: n for n in result.names}
    assert all(kept[n] is canonical[n] for n in mine)
    kept_plain = {n: n for n in plain.result().names}
    assert not any(kept_plain[n] is canonical[n] for n in mine)


def result(names: set[str], consistent: bool = True) -> ListResult:
    return ListResult(frozenset(names), consistent, 1)


def test_plan_round_confirms_streams_that_disappear() -> None:
    plan = plan_round(
        result({"a"}), {"a", "b", "c"}, believed_active={"a", "b"}, discovers=False, room=0
    )
    assert plan.active == ["a"]
    assert plan.absent == ["c"]  # was not active: inactive at once
    assert plan.confirm == ["b"]  # was active: the state API decides
    assert (plan.discover, plan.capped) == ([], 0)


def test_plan_round_never_reports_an_active_stream_down_even_if_the_round_moved() -> None:
    # b may have been missed by paging: it is confirmed; c was not active: still inactive.
    plan = plan_round(
        result({"a"}, consistent=False), {"a", "b", "c"}, {"b"}, discovers=False, room=0
    )
    assert (plan.active, plan.absent, plan.confirm) == (["a"], ["c"], ["b"])


def test_plan_round_discovers_up_to_the_cap() -> None:
    plan = plan_round(result({"a", "n1", "n2", "n3"}), {"a"}, set(), discovers=True, room=2)
    assert plan.discover == ["n1", "n2"]
    assert plan.capped == 1
    assert plan.active == ["a", "n1", "n2"]
    # Without discovery unknown streams are ignored.
    assert plan_round(result({"zz"}), {"a"}, set(), discovers=False, room=5).discover == []


class Asked:
    """A believed-active lookup that records what it was asked."""

    def __init__(self, active: set[str]) -> None:
        self.active = active
        self.asked: list[object] = []

    def __contains__(self, name: object) -> bool:
        self.asked.append(name)
        return name in self.active


def test_plan_round_asks_about_belief_only_for_tracked_streams_missing_from_the_list() -> None:
    # The poller answers from the store one name at a time: 100k listed streams must not
    # turn into 100k lookups, nor into a set of every active stream.
    believed = Asked({"a", "b"})
    tracked = {"a": 1, "b": 2, "c": 3}.keys()
    plan = plan_round(result({"a", "new"}), tracked, believed, discovers=True, room=5)
    assert sorted(map(str, believed.asked)) == ["b", "c"]
    assert (plan.active, plan.absent, plan.confirm, plan.discover) == (
        ["a", "new"],
        ["c"],
        ["b"],
        ["new"],
    )


def test_assembler_result_is_read_only_and_equals_the_listed_names() -> None:
    assembler = Assembler("live")
    assembler.add(page(["s1", "s0"], 2))
    names = assembler.result().names
    assert names == {"s0", "s1"}
    assert not hasattr(names, "add")


def test_forbidden_in_matches_domain_and_app_when_given() -> None:
    items = [(D, "live", "a"), ("", "", "b"), ("other.example.com", "live", "c"), (D, "game", "d")]
    assert forbidden_in(items, D, "live") == {"a", "b"}


@pytest.mark.parametrize(
    ("last_active", "added", "now", "gone"),
    [
        (None, 0, 86_399, False),
        (None, 0, 86_400, True),
        (100, 0, 86_499, False),
        (100, 0, 86_500, True),
    ],
)
def test_retention(last_active: float | None, added: float, now: float, gone: bool) -> None:
    assert expired(last_active, added, now, 86_400) is gone
