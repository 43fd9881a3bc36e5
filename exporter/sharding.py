"""Sharding: which of N exporter processes polls which stream.

Pure functions, no I/O. A stream's identity is ``"account/domain/app/stream"`` whether the stream
is configured or discovered, so it always lands on the same shard. The hash is BLAKE2b (never
Python's ``hash()``, which is salted per process), so every shard of every version agrees on the
split.

Typical use::

    shard = Shard.resolve(args.shard_index, args.shard_count, os.environ.get("HOSTNAME"))
    if shard.owns(stream_identity(account, domain, app, stream)):
        ...
    budget_for_this_shard = account.budget * shard.fraction
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass

__all__ = [
    "Shard",
    "index_from_hostname",
    "owns",
    "shard_of",
    "stream_identity",
]

# A person tag for the hash, so that this split is independent of any other use of BLAKE2b.
_PERSON = b"tle-shard"
# StatefulSet pods are named "<statefulset>-<ordinal>"; the pod's HOSTNAME is that name.
_ORDINAL = re.compile(r"^[A-Za-z0-9][A-Za-z0-9-]*-(0|[1-9][0-9]*)$")


def _check(index: int, count: int) -> None:
    if isinstance(count, bool) or not isinstance(count, int) or count < 1:
        raise ValueError(f"shard count must be an integer >= 1, got {count!r}")
    if isinstance(index, bool) or not isinstance(index, int) or not 0 <= index < count:
        raise ValueError(
            f"shard index must be an integer from 0 to {count - 1} (shard count {count}), "
            f"got {index!r}"
        )


def stream_identity(account: str, domain: str, app: str, stream: str) -> str:
    """The identity a stream is sharded by: ``"account/domain/app/stream"``."""
    return f"{account}/{domain}/{app}/{stream}"


def shard_of(identity: str, count: int) -> int:
    """The shard (0 to count-1) that owns ``identity``; the same in every process and version."""
    _check(0, count)
    if count == 1:
        return 0
    digest = hashlib.blake2b(identity.encode("utf-8"), digest_size=8, person=_PERSON).digest()
    return int.from_bytes(digest, "big") % count


def owns(identity: str, index: int, count: int) -> bool:
    """Whether shard ``index`` of ``count`` owns ``identity``."""
    _check(index, count)
    return shard_of(identity, count) == index


def index_from_hostname(hostname: str) -> int | None:
    """The StatefulSet ordinal in a pod's hostname (``"exporter-3"`` -> 3), or None.

    Only the first DNS label is looked at, so ``"exporter-3.exporter.monitoring.svc"`` is 3 too.
    Any hostname ending in ``-<digits>`` matches (``"ip-10-0-0-7"`` gives 7): callers should use
    this only when sharding was asked for and no explicit index was given.
    """
    m = _ORDINAL.match(hostname.strip().split(".", 1)[0])
    return int(m.group(1)) if m else None


@dataclass(frozen=True)
class Shard:
    """Shard ``index`` of ``count``; ``Shard()`` is the whole fleet (one process)."""

    index: int = 0
    count: int = 1

    def __post_init__(self) -> None:
        _check(self.index, self.count)

    @classmethod
    def resolve(cls, index: int | None, count: int, hostname: str | None = None) -> Shard:
        """The shard from ``--shard.index``/``--shard.count``, else from the StatefulSet ordinal.

        With ``count`` 1 the index defaults to 0. With ``count`` > 1 and no ``index``, the ordinal
        at the end of ``hostname`` (the ``HOSTNAME`` environment variable) is used; without one
        this raises ValueError, as it does for any index outside 0..count-1.
        """
        if index is None:
            if count == 1:
                index = 0
            else:
                index = index_from_hostname(hostname or "")
                if index is None:
                    raise ValueError(
                        f"shard index not given and hostname {hostname or ''!r} does not end "
                        "in -<ordinal>: set --shard.index"
                    )
        return cls(index, count)

    @property
    def fraction(self) -> float:
        """This shard's share of the fleet, and so of every account's API budget: 1/count."""
        return 1.0 / self.count

    @property
    def enabled(self) -> bool:
        """Whether there is more than one shard."""
        return self.count > 1

    def owns(self, identity: str) -> bool:
        """Whether this shard polls the stream (or domain) with this identity."""
        return self.count == 1 or shard_of(identity, self.count) == self.index

    def __str__(self) -> str:
        return f"{self.index}/{self.count}"
