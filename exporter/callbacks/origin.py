"""Where a callback came from, and what its signature has already signed.

CSS signs a callback as MD5(key + t): the signature covers only ``t``, not the body. One genuine
callback seen on the way (plain HTTP, a proxy's log) gives a ``(t, sign)`` pair that signs any
body for that key until ``t``. The protocol cannot be changed, so the receiver adds what it
lacks: an optional allow list of source networks, and a bound on the new events one pair may
sign (every callback of one second shares a pair: the bound is sized for a busy second).

Lock order: ``SignatureUses``'s lock is a leaf.
"""

from __future__ import annotations

import ipaddress
import threading
from collections.abc import Sequence
from dataclasses import dataclass

Network = ipaddress.IPv4Network | ipaddress.IPv6Network
Address = ipaddress.IPv4Address | ipaddress.IPv6Address


@dataclass(frozen=True)
class Origin:
    """What the HTTP layer knows of a callback request."""

    peer: str  # the TCP peer's address
    forwarded_for: str | None = None  # the X-Forwarded-For header, if any
    secure: bool = False  # came over TLS


def networks(cidrs: Sequence[str]) -> tuple[Network, ...]:
    return tuple(ipaddress.ip_network(c, strict=False) for c in cidrs)


def _address(text: str) -> Address | None:
    try:
        address = ipaddress.ip_address(text.strip().strip("[]"))
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


def _within(
    address: ipaddress.IPv4Address | ipaddress.IPv6Address, nets: Sequence[Network]
) -> bool:
    return any(address in net for net in nets)


def client(origin: Origin, trusted: Sequence[Network]) -> str | None:
    """The client's address: the peer, or, when the peer is a trusted proxy, the last address of
    X-Forwarded-For that is not one (None when that cannot be read)."""
    address = _address(origin.peer)
    if address is None:
        return None
    if not trusted or not _within(address, trusted) or not origin.forwarded_for:
        return str(address)
    for hop in reversed(origin.forwarded_for.split(",")):
        hop_address = _address(hop)
        if hop_address is None:
            return None
        if not _within(hop_address, trusted):
            return str(hop_address)
    return str(address)


def allowed(origin: Origin, allow: Sequence[Network], trusted: Sequence[Network]) -> bool:
    """Whether the callback's client is in the allow list (everything is without one)."""
    if not allow:
        return True
    text = client(origin, trusted)
    address = _address(text) if text is not None else None
    return address is not None and _within(address, allow)


def external_plain_http(origin: Origin) -> bool:
    """A callback over plain HTTP from outside loopback: its signature could be read on the way."""
    address = _address(origin.peer)
    return not origin.secure and address is not None and not address.is_loopback


# The events of one second share a pair: their times agree within this.
PAIR_TIME_SPREAD = 1.0


class SignatureUses:
    """What each ``(t, sign)`` pair has signed: how many new events, and at what event time.

    Genuine callbacks that share a pair are the events of one second (t = event time + the
    validity), so they agree on the event time; a pair is pinned to the first event time it
    signs, and a body with another is refused. A replayed pair can then only repeat events of
    its own second, which the first poll after them outvotes (state.combine, rule 3), and at
    most ``cap`` of them. A pair is forgotten once its ``t`` has passed: it signs nothing then.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._pairs: dict[tuple[int, str], tuple[float, int]] = {}  # -> (event time, uses)
        self._oldest = 0.0

    def refuses(self, t: int, sign: str, event_time: float, cap: int, now: float) -> str | None:
        """Why the pair may not sign this event (a one-line reason), or None."""
        with self._lock:
            self._prune(now)
            pinned = self._pairs.get((t, sign))
        if pinned is None:
            return None
        at, uses = pinned
        if abs(event_time - at) > PAIR_TIME_SPREAD:
            return "this signature was made for an event at another time"
        if uses >= cap:
            return f"this signature has signed {cap} events already"
        return None

    def used(self, t: int, sign: str, event_time: float) -> None:
        with self._lock:
            at, uses = self._pairs.get((t, sign), (event_time, 0))
            self._pairs[(t, sign)] = (at, uses + 1)
            self._oldest = min(self._oldest, float(t)) if self._oldest else float(t)

    def _prune(self, now: float) -> None:
        if not self._pairs or now < self._oldest:
            return
        self._pairs = {k: v for k, v in self._pairs.items() if k[0] >= now}
        self._oldest = min((float(k[0]) for k in self._pairs), default=0.0)

    def __len__(self) -> int:
        with self._lock:
            return len(self._pairs)
