"""The exposition's streams in sorted buckets of a few hundred, and which buckets need rendering.

A change re-renders one bucket, not the exposition; a scrape joins every bucket's cached bytes in
order. Not thread-safe on its own: the exposition (``cache.py``) calls it under its lock.
"""

from __future__ import annotations

import bisect
from collections.abc import Callable, Collection, Iterator
from dataclasses import dataclass, field

from exporter.model import StreamKey

BUCKET_SIZE = 256  # streams per bucket: a change re-renders this many streams at most


@dataclass
class Bucket:
    keys: list[StreamKey]
    packed: dict[str, bytes] = field(default_factory=dict)  # family name -> gzip member
    text: dict[str, bytes] | None = None  # the same uncompressed, for small expositions


class BucketIndex:
    """Sorted buckets (each bucket's keys sorted, buckets in key order) and the dirty set."""

    def __init__(self, on_dirty: Callable[[], None]) -> None:
        """``on_dirty`` is called whenever a bucket is marked (the exposition wakes its
        renderer; it must be cheap, as it runs for every mark)."""
        self._on_dirty = on_dirty
        self._starts: list[StreamKey] = []
        self._buckets: list[Bucket] = []
        self._dirty: set[int] = set()  # id() of dirty buckets

    def __iter__(self) -> Iterator[Bucket]:
        return iter(self._buckets)

    def all(self) -> list[Bucket]:
        return list(self._buckets)

    def _index(self, key: StreamKey) -> int:
        return max(0, bisect.bisect_right(self._starts, key) - 1)

    def of(self, key: StreamKey) -> Bucket:
        """The bucket ``key`` is (or would be) in; there must be one."""
        return self._buckets[self._index(key)]

    def tracked(self, key: StreamKey) -> StreamKey:
        """The key object the bucket holds that equals ``key``: a dict keyed by it shares the
        object instead of holding a copy built from an API answer (50k copies cost ~9 MB)."""
        bucket = self.of(key)
        return bucket.keys[bisect.bisect_left(bucket.keys, key)]

    def load(self, keys: list[StreamKey]) -> None:
        """Fill empty buckets from sorted keys, in one pass."""
        assert not self._buckets
        for start in range(0, len(keys), BUCKET_SIZE):
            bucket = Bucket(keys[start : start + BUCKET_SIZE])
            self._buckets.append(bucket)
            self._starts.append(bucket.keys[0])
            self.mark(bucket)

    def insert(self, key: StreamKey) -> None:
        """Add a key not in any bucket (its bucket is marked)."""
        if not self._buckets:
            self._buckets.append(Bucket([key]))
            self._starts.append(key)
            self.mark(self._buckets[0])
            return
        i = self._index(key)
        bucket = self._buckets[i]
        bisect.insort(bucket.keys, key)
        self._starts[i] = bucket.keys[0]
        if len(bucket.keys) >= 2 * BUCKET_SIZE:
            self._split(i)
        else:
            self.mark(bucket)

    def _split(self, i: int) -> None:
        bucket = self._buckets[i]
        half = len(bucket.keys) // 2
        left, right = Bucket(bucket.keys[:half]), Bucket(bucket.keys[half:])
        self._dirty.discard(id(bucket))
        self._buckets[i : i + 1] = [left, right]
        self._starts[i : i + 1] = [left.keys[0], right.keys[0]]
        self.mark(left)
        self.mark(right)

    def remove(self, key: StreamKey) -> None:
        """Take a tracked key out (its bucket is marked, or dropped once empty)."""
        i = self._index(key)
        bucket = self._buckets[i]
        j = bisect.bisect_left(bucket.keys, key)
        if j < len(bucket.keys) and bucket.keys[j] == key:
            del bucket.keys[j]
        if not bucket.keys:
            self._dirty.discard(id(bucket))
            del self._buckets[i]
            del self._starts[i]
        else:
            self._starts[i] = bucket.keys[0]
            self.mark(bucket)

    def mark(self, bucket: Bucket) -> None:
        self._dirty.add(id(bucket))
        self._on_dirty()

    def mark_keys(self, keys: list[StreamKey], tracked: Collection[StreamKey]) -> None:
        """Mark the buckets of those of ``keys`` that are ``tracked``. Many keys (a list round)
        mark every bucket: finding each key's bucket costs a search, and most buckets would be
        marked anyway."""
        if len(keys) > len(tracked) // 8:
            self.mark_all()
            return
        buckets, index = self._buckets, self._index
        for key in keys:
            if key in tracked:
                self.mark(buckets[index(key)])

    def mark_all(self) -> None:
        for bucket in self._buckets:
            self.mark(bucket)

    def take_dirty(self) -> list[Bucket]:
        """The dirty buckets, in order; they are clean from now on."""
        if not self._dirty:
            return []
        todo = [b for b in self._buckets if id(b) in self._dirty]
        self._dirty.clear()
        return todo
