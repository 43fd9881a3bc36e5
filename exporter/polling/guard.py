"""The account guard: the one owner of an account's health while it runs.

It decides whether a call may go out and takes every call's outcome:

- Credential and account-state errors (``AuthFailure.SignatureFailure``, ``SecretIdNotFound``,
  ``TokenFailure``, ``ResourceNotFound.*``, ...) back off the whole account: retrying fast never
  helps and burns the customer's shared limit.
- A permission denial on an action authorised per domain (CAM authorises
  DescribeLiveStreamState, ...OnlineList and ...PushInfoList per push domain, live authorisation
  page 598/98576) backs off only that domain: the account's other domains keep their schedule.
- Any answer of the forbid list stays with the forbid list: one of ``FORBID_UNAVAILABLE`` makes it
  unavailable for the account (bans then come from state polls), and nothing it answers backs
  off the account.
- Transport failures (the API did not answer) are logged once per change of cause, naming the
  endpoint; the time of the last success and whether the last call was answered are kept for
  the metrics and the status page.

Guards outlive reloads: an account in back-off stays in back-off, unless the reload changed what
the back-off is about (its credentials or endpoint).

Lock order: the guard's lock is a leaf (the back-offs have their own, also leaves).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from exporter import cssapi
from exporter.model import ApiError, ErrorClass
from exporter.ratelimit import Backoff

log = logging.getLogger(__name__)

# Answers meaning "this account cannot use the forbid list": it was retired (deleted from the
# China SDKs on 2025-11-28, Go SDK changelog v1.3.4; a retired action answers ActionOffline or
# InvalidAction), or CAM denies it (it has no resource-level authorisation, so any policy scoped
# to domains denies it with AuthFailure.UnauthorizedOperation; CAM page 598/98576).
FORBID_UNAVAILABLE = (
    "ActionOffline",
    "InvalidAction",
    "UnsupportedOperation",
    "UnauthorizedOperation",
    "AuthFailure.UnauthorizedOperation",
)
PERMISSION_DENIED = ("UnauthorizedOperation", "AuthFailure.UnauthorizedOperation")
DOMAIN_AUTHORISED = (cssapi.STATE, cssapi.ONLINE_LIST, cssapi.PUSH_INFO_LIST)


@dataclass(frozen=True)
class Health:
    """What the account's calls show, for the metrics and the status page."""

    answered: bool | None  # did the last call get an answer from the API (None: no call yet)
    cause: str | None  # why the last call was not answered (a transport code), else None
    last_success: float | None  # Unix time of the last successful call
    forbid: bool | None  # forbid list usable (None: not asked yet)
    forbid_reason: str | None  # the code that made it unavailable
    denied: tuple[tuple[str, str, float], ...]  # (domain, code, back-off delay), sorted


# AuthFailure.SignatureExpire means our clock is more than 5 minutes off Tencent's. When the wall
# clock moves against the monotonic one by more than this (NTP stepped it), the cause may be
# gone: the next call goes out at once instead of waiting out the back-off.
CLOCK_STEP_SECONDS = 2.0
CLOCK_SKEW = "AuthFailure.SignatureExpire"


class AccountGuard:
    def __init__(
        self,
        name: str,
        connection: object = None,
        endpoint: str = "",
        wall: Callable[[], float] = time.time,
    ) -> None:
        self.name = name
        self._wall = wall
        self._skew_offset: float | None = None  # wall - monotonic when SignatureExpire came
        self.connection = connection  # what the back-off is about; see AccountSpec.connection
        self.endpoint = endpoint
        self.backoff = Backoff()
        self._lock = threading.Lock()
        self._failing: str | None = None
        self._forbid: bool | None = None  # None until the forbid list answered once
        self._forbid_reason: str | None = None
        self._domains: dict[str, Backoff] = {}
        self._denied: dict[str, str] = {}  # domain -> code, while backing off
        self._answered: bool | None = None
        self._cause: str | None = None
        self._last_success: float | None = None

    # -- calls -----------------------------------------------------------------------------

    def admit(self, now: float, domain: str | None = None) -> bool:
        """Whether a call may go out now (False while backing off, but for one probe)."""
        self._clock_corrected(now)
        if not self.backoff.allow(now):
            return False
        with self._lock:
            backoff = self._domains.get(domain) if domain is not None else None
        if backoff is not None and not backoff.allow(now):
            self.backoff.neutral()  # the account's probe, if it was one, did not go out
            return False
        return True

    def _clock_corrected(self, now: float) -> None:
        with self._lock:
            offset = self._skew_offset
            if offset is None or abs(self._wall() - now - offset) < CLOCK_STEP_SECONDS:
                return
            self._skew_offset = None
        log.info("account %s: the clock was corrected; probing the API at once", self.name)
        self.backoff.success()

    def succeeded(self, wall: float, domain: str | None = None) -> None:
        self.backoff.success()
        with self._lock:
            failing, self._failing = self._failing, None
            cause, self._cause = self._cause, None
            self._answered = True
            self._last_success = wall
            backoff = self._domains.get(domain) if domain is not None else None
            code = self._denied.pop(domain, None) if domain is not None else None
        if backoff is not None:
            backoff.success()
        if failing is not None:
            log.info("account %s: API calls succeed again", self.name)
        if cause is not None:
            log.info("account %s: %s answers again", self.name, self.endpoint)
        if code is not None:
            log.info("account %s: domain %s is allowed again", self.name, domain)

    def failed(self, action: str, err: ApiError, now: float, domain: str | None = None) -> None:
        self._transport(err)
        if action == cssapi.FORBID_LIST:
            # What the forbid list answers is about the forbid list (see forbid_answered).
            self.backoff.neutral()
            return
        if err.code in PERMISSION_DENIED and domain is not None and action in DOMAIN_AUTHORISED:
            self._deny(domain, err, now)
            return
        if err.error_class in (ErrorClass.AUTH, ErrorClass.ACCOUNT):
            self.backoff.failure(now)
            with self._lock:
                changed = self._failing != err.code
                self._failing = err.code
                if err.code == CLOCK_SKEW and self._skew_offset is None:
                    self._skew_offset = self._wall() - now
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

    def _deny(self, domain: str, err: ApiError, now: float) -> None:
        self.backoff.neutral()  # the account itself is fine: its other domains go on
        with self._lock:
            backoff = self._domains.setdefault(domain, Backoff())
            changed = self._denied.get(domain) != err.code
            self._denied[domain] = err.code
        backoff.failure(now)
        if changed:
            log.warning(
                "account %s: domain %s: %s (%s); backing off its targets %.0fs between attempts,"
                " the account's other domains go on",
                self.name,
                domain,
                err.code,
                err.message,
                backoff.delay,
            )

    def _transport(self, err: ApiError) -> None:
        with self._lock:
            if err.error_class is not ErrorClass.TRANSPORT:
                self._answered, self._cause = True, None
                return
            changed = self._cause != err.code
            self._answered, self._cause = False, err.code
        if changed:
            log.warning(
                "account %s: the API at %s did not answer: %s (%s)",
                self.name,
                self.endpoint,
                err.code,
                err.message,
            )

    def reset(self) -> None:
        """What the back-off was about changed (a reload): the next call goes out at once."""
        self.backoff.success()
        with self._lock:
            self._failing = None
            domains = list(self._domains.values())
            self._denied.clear()
            # A new key may be allowed what the old one was not: ask the forbid list again.
            self._forbid, self._forbid_reason = None, None
        for backoff in domains:
            backoff.success()

    def domain_delay(self, domain: str) -> float:
        with self._lock:
            backoff = self._domains.get(domain)
        return backoff.delay if backoff is not None else 0.0

    def health(self) -> Health:
        with self._lock:
            denied = sorted(self._denied.items())
            domains = dict(self._domains)
            state = (self._answered, self._cause, self._last_success)
            forbid = (self._forbid, self._forbid_reason)
        return Health(
            *state,
            *forbid,
            denied=tuple((d, code, domains[d].delay) for d, code in denied),
        )

    # -- the forbid list -------------------------------------------------------------------

    @property
    def forbid_supported(self) -> bool | None:
        with self._lock:
            return self._forbid

    def forbid_answered(self, err: ApiError | None) -> None:
        """The forbid list answered (``err`` None) or failed; an answer saying the account
        cannot use it switches ban checks to state polls, logged once with the reason."""
        with self._lock:
            if err is None:
                self._forbid, self._forbid_reason = True, None
                return
            if err.code not in FORBID_UNAVAILABLE or self._forbid is False:
                return
            self._forbid, self._forbid_reason = False, err.code
        log.warning(
            "account %s: %s answers %s (%s); checking offline streams for bans with %s instead",
            self.name,
            cssapi.FORBID_LIST,
            err.code,
            err.message,
            cssapi.STATE,
        )
