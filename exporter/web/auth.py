"""Basic auth for the web config's ``basic_auth_users``: the bcrypt check and a cache of successes.

bcrypt is slow on purpose (tens of milliseconds at cost 10), so two things keep it from being a
lever, as in the exporter-toolkit: a scraper that sends the same right password every 15 s pays
for it once (successes are cached, keyed with a per-process secret so that the cache holds
nothing an attacker could test a password against), and checks run one at a time. The server
splits a check in two, `precheck` (cheap, on its event loop) and `verify` (bcrypt, in its small
pool with a bounded queue), so that a flood of wrong passwords queues behind itself and never
delays a scrape whose credentials are cached.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import secrets
import threading
from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass

import bcrypt
from pydantic import SecretStr

__all__ = ["AUTH_CACHE_SIZE", "Attempt", "Authenticator"]

# Successful credentials remembered so that a scrape every 15 s does not pay bcrypt each time.
AUTH_CACHE_SIZE = 1024
# bcrypt only ever reads this many bytes of a password.
_BCRYPT_MAX_PASSWORD = 72
# Longer Authorization headers are refused without any work.
_MAX_AUTH_HEADER = 4096


@dataclass(frozen=True, slots=True)
class Attempt:
    """Credentials that passed the cheap checks and now need bcrypt."""

    cache_key: bytes
    password: bytes
    stored: bytes | None  # the user's hash; None for an unknown user


def _cost(hashed: str) -> int:
    return int(hashed[4:6])


class Authenticator:
    """Checks Authorization headers against one set of users; owns its cache of successes."""

    def __init__(self, users: Mapping[str, SecretStr]) -> None:
        self._users = {name: h.get_secret_value().encode() for name, h in users.items()}
        self._cache: OrderedDict[bytes, None] = OrderedDict()
        self._cache_lock = threading.Lock()
        # One bcrypt at a time, whoever calls: a flood of bad passwords stays on one core.
        self._bcrypt_lock = threading.Lock()
        self._cache_key = secrets.token_bytes(32)
        self._dummy_hash: bytes | None = None

    @property
    def enabled(self) -> bool:
        return bool(self._users)

    def same_users(self, users: Mapping[str, SecretStr]) -> bool:
        """Whether ``users`` are exactly these (a reload that keeps them keeps the cache)."""
        return {n: h.get_secret_value().encode() for n, h in users.items()} == self._users

    def precheck(self, header: str | None) -> bool | Attempt:
        """True (no users, or cached), False (refused without bcrypt) or the Attempt to verify."""
        if not self._users:
            return True
        if not header or len(header) > _MAX_AUTH_HEADER:
            return False
        scheme, _, encoded = header.strip().partition(" ")
        if scheme.lower() != "basic":
            return False
        try:
            decoded = base64.b64decode(encoded.strip(), validate=True)
        except (binascii.Error, ValueError):
            return False
        username, sep, password = decoded.partition(b":")
        if not sep:
            return False
        # Keyed with a per-process secret: the cache holds no password, nor a plain hash of one.
        cache_key = hmac.new(self._cache_key, decoded, hashlib.sha256).digest()
        with self._cache_lock:
            if cache_key in self._cache:
                self._cache.move_to_end(cache_key)
                return True
        stored: bytes | None = None
        for name, hashed in self._users.items():
            # Every name is compared, in constant time, so timing tells nothing about them.
            if hmac.compare_digest(name.encode("utf-8"), username):
                stored = hashed
        return Attempt(cache_key, password[:_BCRYPT_MAX_PASSWORD], stored)

    def verify(self, attempt: Attempt) -> bool:
        """The bcrypt check (slow: call it off the event loop); a success is cached."""
        # An unknown user is checked against a hash of a random password: the same cost, so
        # timing does not tell which usernames exist.
        expected = attempt.stored if attempt.stored is not None else self._dummy()
        with self._bcrypt_lock:
            try:
                ok = bcrypt.checkpw(attempt.password, expected)
            except ValueError:
                ok = False
        if not (ok and attempt.stored is not None):
            return False
        with self._cache_lock:
            self._cache[attempt.cache_key] = None
            while len(self._cache) > AUTH_CACHE_SIZE:
                self._cache.popitem(last=False)
        return True

    def authorized(self, header: str | None) -> bool:
        """Whether an Authorization header value passes (always, without users). Blocking."""
        verdict = self.precheck(header)
        if isinstance(verdict, Attempt):
            return self.verify(verdict)
        return verdict

    def _dummy(self) -> bytes:
        with self._bcrypt_lock:
            if self._dummy_hash is None:
                cost = max(_cost(h.decode()) for h in self._users.values())
                self._dummy_hash = bcrypt.hashpw(secrets.token_bytes(16), bcrypt.gensalt(cost))
            return self._dummy_hash

    def cache_size(self) -> int:
        with self._cache_lock:
            return len(self._cache)
