"""The collector's place (exporter/heap.py): paused while big structures are built, and kept off
the long-lived runtime, which is only safe because a reload leaves no reference cycle behind."""

from __future__ import annotations

import gc
import weakref
from collections.abc import Iterator

import pytest

from exporter import heap
from exporter.app import App
from exporter.config import Config
from exporter.simulator import Simulator, World
from tests.drive import SharedClock
from tests.e2e import SECRET_ID, SECRET_KEY, exporter_config

DOMAIN = "push.example.com"
SLACK = 1000


def test_a_pause_is_reentrant_and_restores_what_was_before() -> None:
    assert gc.isenabled()
    with heap.paused():
        with heap.paused():
            assert not gc.isenabled()
        assert not gc.isenabled()  # the outer pause still holds
    assert gc.isenabled()
    gc.disable()
    try:
        with heap.paused():
            pass
        assert not gc.isenabled()  # off before, off after
    finally:
        gc.enable()


def test_settle_leaves_a_process_that_did_not_ask_for_it_alone() -> None:
    frozen = gc.get_freeze_count()
    assert heap.settle() is False
    assert gc.get_freeze_count() == frozen


@pytest.fixture
def freezing(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setattr(heap, "_freezing", True)
    monkeypatch.setattr(heap, "_frozen_after_full", 0)
    try:
        yield
    finally:
        gc.unfreeze()  # the test process goes on collecting as it did


def test_settle_freezes_and_collects_only_once_the_frozen_set_grew_by_a_quarter(
    freezing: None,
) -> None:
    assert heap.settle() is True  # the first: nothing was collected yet
    first = gc.get_freeze_count()
    assert first > 0 and gc.get_count()[0] < 100  # what was alive is out of the generations
    held = [[n] for n in range(first // 10)]
    assert heap.settle() is False  # a tenth more: frozen without a collection
    # (Less a little: the collection may find garbage other threads of the process left.)
    assert gc.get_freeze_count() >= first + len(held) - SLACK
    held += [[n] for n in range(first // 5)]
    assert heap.settle() is True  # over a quarter since the last collection
    assert gc.get_freeze_count() >= first + len(held) - SLACK
    assert gc.get_count()[0] < 100


@pytest.fixture
def app() -> Iterator[tuple[App, list[dict[str, str]]]]:
    world = World()
    for name in ("a", "b", "c"):
        world.add_stream(DOMAIN, "live", name, state="active")
    clock = SharedClock(1_800_000_000.0)
    sim = Simulator(world, credentials={SECRET_ID: SECRET_KEY}, monotonic=clock)
    sim.start()
    labels = [{"team": "day"}]

    def config() -> Config:
        raw = exporter_config(sim.url, {DOMAIN: ["a", "b", "c"]})
        raw["targets"][0].update(push_info=False, labels=labels[-1])
        return Config.model_validate(raw)

    app = App(config(), "127.0.0.1:0", loader=config, clock=clock, wall=clock, sleep=clock.sleep)
    yield app, labels
    sim.stop()
    app.web.stop()


def test_a_reload_frees_the_running_snapshot_by_reference_counting_alone(
    app: tuple[App, list[dict[str, str]]],
) -> None:
    exporter, labels = app
    exporter.poller.first_round()
    exporter.poller.run_pending()
    keys = exporter.runtime.targets[0].keys
    gc.collect()
    gc.disable()  # as if the snapshot were frozen: only reference counting may free it
    try:
        for team in ("night", "day", "night"):
            running = weakref.ref(exporter.runtime)
            labels.append({"team": team})
            assert exporter.reload() == (True, "configuration reloaded")
            assert running() is None, gc.get_referrers(running())
            # The new snapshot's keys are the running ones: no second set kept alive.
            assert all(
                new is old for new, old in zip(exporter.runtime.targets[0].keys, keys, strict=True)
            )
    finally:
        gc.enable()
    assert b'team="night"' in exporter.render_metrics()
