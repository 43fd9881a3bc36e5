"""The account guard: the one owner of an account's health while it runs.

It decides whether a call may go out (the back-off after credential, permission or account
errors, where retrying fast never helps), takes every call's outcome, logs a failure once per
change of cause, and remembers whether the account may use the forbid list and when that list
is next due. Guards outlive reloads: an account in back-off stays in back-off, unless the
reload changed what the back-off is about (its credentials or endpoint).

Lock order: the guard's lock is a leaf (the back-off has its own, also a leaf).
"""

from __future__ import annotations

import logging
import threading

from exporter import cssapi
from exporter.model import ApiError, ErrorClass
from exporter.ratelimit import Backoff

log = logging.getLogger(__name__)

# Forbid-list answers meaning "this account cannot use the action": fall back to state polls.
FORBID_UNSUPPORTED = ("InvalidAction", "UnsupportedOperation", "UnauthorizedOperation")


class AccountGuard:
    def __init__(self, name: str, connection: object = None) -> None:
        self.name = name
        self.connection = connection  # what the back-off is about; see AccountSpec.connection
        self.backoff = Backoff()
        self._lock = threading.Lock()
        self._failing: str | None = None
        self._forbid: bool | None = None  # None until the forbid list answered once
        self._next_forbid = 0.0

    # -- calls -----------------------------------------------------------------------------

    def admit(self, now: float) -> bool:
        """Whether a call may go out now (False while backing off, but for one probe)."""
        return self.backoff.allow(now)

    def succeeded(self) -> None:
        self.backoff.success()
        with self._lock:
            failing, self._failing = self._failing, None
        if failing is not None:
            log.info("account %s: API calls succeed again", self.name)

    def failed(self, action: str, err: ApiError, now: float) -> None:
        if err.error_class in (ErrorClass.AUTH, ErrorClass.ACCOUNT) and not (
            action == cssapi.FORBID_LIST and err.code in FORBID_UNSUPPORTED
        ):
            self.backoff.failure(now)
            with self._lock:
                changed = self._failing != err.code
                self._failing = err.code
            if changed:
                log.warning(
                    "account %s: %s (%s); backing off %.0fs between attempts",
                    self.name,
                    err.code,
                    err.message,
                    self.backoff.delay,
                )
            return
        self.backoff.neutral()
        if err.error_class is ErrorClass.CLIENT:
            log.error("account %s: %s rejected: %s %s", self.name, action, err.code, err.message)
        else:
            log.debug("account %s: %s %s %s", self.name, action, err.code, err.message)

    def reset(self) -> None:
        """What the back-off was about changed (a reload): the next call goes out at once."""
        self.backoff.success()
        with self._lock:
            self._failing = None

    # -- the forbid list -------------------------------------------------------------------

    @property
    def forbid_supported(self) -> bool | None:
        with self._lock:
            return self._forbid

    def forbid_answered(self, err: ApiError | None) -> None:
        """The forbid list answered (``err`` None) or failed; an answer saying the account
        cannot use it switches ban checks to state polls, logged once."""
        with self._lock:
            if err is None:
                self._forbid = True
                return
            if err.code not in FORBID_UNSUPPORTED or self._forbid is not None:
                return
            self._forbid = False
        log.warning(
            "account %s: %s answers %s; checking offline streams for bans with %s instead",
            self.name,
            cssapi.FORBID_LIST,
            err.code,
            cssapi.STATE,
        )

    def forbid_due(self, now: float, interval: float | None) -> bool:
        """Whether a forbid round is due at ``now`` (and schedule the next one if so). A new
        guard's first round is due at once."""
        with self._lock:
            if interval is None or self._forbid is False or now < self._next_forbid:
                return False
            self._next_forbid = max(self._next_forbid + interval, now)
            return True

    def keep_forbid_schedule(self, now: float, interval: float | None) -> None:
        """A reload kept the account: its next forbid round stays, brought forward if the
        interval got shorter."""
        if interval is not None:
            with self._lock:
                self._next_forbid = min(self._next_forbid, now + interval)
