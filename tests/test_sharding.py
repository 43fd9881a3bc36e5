"""Sharding: a stable, even split of stream identities over N exporter processes."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest

from exporter.sharding import Shard, index_from_hostname, owns, shard_of, stream_identity

# identity -> shard for counts 2, 3, 5 and 16. These must never change: a changed split moves
# streams between running shards (and breaks a fleet whose shards run different versions).
GOLDEN: dict[str, tuple[int, int, int, int]] = {
    "main/push.example.com/live/host-alice": (0, 0, 1, 10),
    "main/push.example.com/live/host-bob": (1, 0, 0, 11),
    "main/push2.example.com/events/keynote": (0, 1, 4, 4),
    "demo/push.demo-a.example.com/live/news-24h": (0, 0, 2, 2),
    "acct-2/push.b.example.com/live/gen-000042": (1, 2, 0, 11),
    "main/域名.example.com/live/直播": (0, 0, 3, 6),
}


@pytest.mark.parametrize("identity", sorted(GOLDEN))
def test_golden(identity: str) -> None:
    got = tuple(shard_of(identity, count) for count in (2, 3, 5, 16))
    assert got == GOLDEN[identity]
    assert shard_of(identity, 1) == 0


def test_stable_across_processes() -> None:
    """Not Python's salted hash(): another interpreter with another hash seed agrees."""
    names = list(GOLDEN)
    code = (
        "import json, sys; from exporter.sharding import shard_of; "
        "print(json.dumps([shard_of(n, 7) for n in json.load(sys.stdin)]))"
    )
    res = subprocess.run(
        [sys.executable, "-c", code],
        input=json.dumps(names),
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONHASHSEED": "12345"},
        cwd=Path(__file__).resolve().parent.parent,
        timeout=60,
        check=True,
    )
    assert json.loads(res.stdout) == [shard_of(n, 7) for n in names]


@pytest.mark.parametrize("count", [2, 3, 4, 5, 8])
def test_distribution_even_within_5_percent(count: int) -> None:
    n = 30_000
    counts = Counter(
        shard_of(
            stream_identity("acct", f"push-{k % 3}.example.com", "live", f"gen-{k:06d}"), count
        )
        for k in range(n)
    )
    assert set(counts) == set(range(count))
    expected = n / count
    for shard, got in sorted(counts.items()):
        assert abs(got - expected) <= 0.05 * expected, (shard, got, expected)


def test_every_identity_has_exactly_one_owner() -> None:
    for k in range(2_000):
        identity = stream_identity("a", "d.example.com", "live", f"s{k}")
        owners = [i for i in range(3) if owns(identity, i, 3)]
        assert owners == [shard_of(identity, 3)]
        shards = [Shard(i, 3) for i in range(3)]
        assert sum(s.owns(identity) for s in shards) == 1


def test_stream_identity_format() -> None:
    assert stream_identity("main", "push.example.com", "live", "s1") == (
        "main/push.example.com/live/s1"
    )


@pytest.mark.parametrize(
    ("hostname", "expected"),
    [
        ("tencent-live-exporter-0", 0),
        ("tencent-live-exporter-3", 3),
        ("tencent-live-exporter-12", 12),
        ("exporter-2.exporter.monitoring.svc.cluster.local", 2),
        ("web-1\n", 1),
        ("tencent-live-exporter", None),
        ("tencent-live-exporter-", None),
        ("tencent-live-exporter-7d9f8b6c5-x2x4z", None),  # a Deployment pod
        ("exporter-03", None),  # StatefulSet ordinals have no leading zeros
        ("-3", None),
        ("3", None),
        ("", None),
        ("exporter-1a", None),
    ],
)
def test_index_from_hostname(hostname: str, expected: int | None) -> None:
    assert index_from_hostname(hostname) == expected


def test_shard_object() -> None:
    s = Shard(1, 4)
    assert s.fraction == 0.25
    assert s.enabled
    assert str(s) == "1/4"
    assert Shard() == Shard(0, 1)
    assert Shard().fraction == 1.0
    assert not Shard().enabled
    assert Shard().owns("anything")
    identity = "main/push.example.com/live/host-alice"
    assert Shard(0, 3).owns(identity) and not Shard(1, 3).owns(identity)
    with pytest.raises(AttributeError):
        s.index = 2  # type: ignore[misc]


@pytest.mark.parametrize(
    ("index", "count", "message"),
    [
        (0, 0, "shard count must be an integer >= 1, got 0"),
        (0, -2, "shard count must be an integer >= 1, got -2"),
        (3, 3, "shard index must be an integer from 0 to 2 (shard count 3), got 3"),
        (-1, 3, "shard index must be an integer from 0 to 2 (shard count 3), got -1"),
        (True, 3, "shard index must be an integer from 0 to 2 (shard count 3), got True"),
    ],
)
def test_validation(index: int, count: int, message: str) -> None:
    with pytest.raises(ValueError) as exc:
        Shard(index, count)
    assert str(exc.value) == message
    assert "\n" not in message
    with pytest.raises(ValueError):
        owns("x", index, count)


def test_shard_of_rejects_bad_count() -> None:
    with pytest.raises(ValueError, match="shard count"):
        shard_of("x", 0)


def test_resolve() -> None:
    assert Shard.resolve(None, 1, None) == Shard(0, 1)
    assert Shard.resolve(None, 1, "anything-5") == Shard(0, 1)
    assert Shard.resolve(2, 3, "tencent-live-exporter-0") == Shard(2, 3)
    assert Shard.resolve(None, 3, "tencent-live-exporter-1") == Shard(1, 3)
    with pytest.raises(ValueError, match=r"does not end in -<ordinal>: set --shard.index"):
        Shard.resolve(None, 3, "my-vm")
    with pytest.raises(ValueError, match=r"does not end in -<ordinal>"):
        Shard.resolve(None, 3, None)
    with pytest.raises(ValueError, match=r"from 0 to 2 \(shard count 3\), got 5"):
        Shard.resolve(None, 3, "tencent-live-exporter-5")
