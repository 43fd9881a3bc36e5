"""The account-wide playback rounds besides the viewers: per play domain, error codes, and
platform health (certificates, packages). Each is one job kind; a failed call keeps what the
book had (values age, they are never zeroed)."""

from __future__ import annotations

import math

from exporter import cssapi
from exporter.client import playback as calls
from exporter.client.playback import PACKAGE_TYPES, Package
from exporter.model import ApiError
from exporter.polling.context import Context
from exporter.polling.lanes import Job
from exporter.polling.playback_book import CERTS, DOMAINS, ERRORS, PACKAGES
from exporter.polling.playback_call import OK, RETRY, PlaybackRound
from exporter.runtime.plan import TargetSpec

MINUTE = 60.0
# More pages than any account has packages of one type; a broken TotalPage must end somewhere.
MAX_PACKAGE_PAGES = 20


class DomainRound(PlaybackRound):
    """DescribeLiveDomainPlayInfoList: bandwidth, traffic, requests, viewers per play domain."""

    action = cssapi.DOMAIN_PLAY
    kind = DOMAINS

    def run(self) -> Job | None:
        begun = self._begin()
        if begun is None:
            return None
        acc, spec, client, book = begun
        answer = calls.domain_stats(client, spec.names)
        outcome = self._outcome(acc, book, answer if isinstance(answer, ApiError) else None)
        if outcome == RETRY:
            return self
        if outcome == OK and not isinstance(answer, ApiError):
            book.domains_applied(answer, self.ctx.wall())
        elif book.available(self.action, acc.spec.connection):
            book.counted(DOMAINS, "error")
        return None


class ErrorCodeRound(PlaybackRound):
    """DescribePlayErrorCodeDetailInfoList, one call per play domain (the answer is not split by
    domain), over the last ``errors_window``: each minute is read until Tencent finished it."""

    action = cssapi.PLAY_ERROR_CODES
    kind = ERRORS

    def __init__(self, ctx: Context, account: str, targets: tuple[TargetSpec, ...]) -> None:
        super().__init__(ctx, account, targets)
        self._next = 0  # the play domain to read next
        self._failed = False

    def run(self) -> Job | None:
        begun = self._begin()
        if begun is None:
            return None
        acc, spec, client, book = begun
        names = spec.names
        if self._next >= len(names):
            return None
        name = names[self._next]
        end = math.floor(self.ctx.wall() / MINUTE) * MINUTE
        start = end - spec.errors_window
        answer = calls.error_codes(client, name, start, end)
        outcome = self._outcome(acc, book, answer if isinstance(answer, ApiError) else None)
        if outcome == RETRY:
            return self
        if outcome == OK and not isinstance(answer, ApiError):
            book.errors_applied(name, answer, start)
        elif not book.available(self.action, acc.spec.connection):
            return None  # the account cannot make this call: not for the other domains either
        else:
            self._failed = True
        self._next += 1
        if self._next < len(names):
            return self
        book.counted(ERRORS, "error" if self._failed else "ok", self.ctx.wall())
        return None


class CertRound(PlaybackRound):
    """DescribeLiveDomainCertBindings with DomainName, one call per play domain."""

    action = cssapi.CERT_BINDINGS
    kind = CERTS

    def __init__(self, ctx: Context, account: str, targets: tuple[TargetSpec, ...]) -> None:
        super().__init__(ctx, account, targets)
        self._next = 0
        self._failed = False

    def run(self) -> Job | None:
        begun = self._begin()
        if begun is None:
            return None
        acc, spec, client, book = begun
        names = spec.names
        if self._next >= len(names):
            return None
        name = names[self._next]
        answer = calls.certificate(client, name)
        outcome = self._outcome(acc, book, answer if isinstance(answer, ApiError) else None)
        if outcome == RETRY:
            return self
        if outcome == OK and not isinstance(answer, ApiError):
            book.certs_applied(answer, (name,))
        elif not book.available(self.action, acc.spec.connection):
            return None
        else:
            self._failed = True
        self._next += 1
        if self._next < len(names):
            return self
        book.counted(CERTS, "error" if self._failed else "ok", self.ctx.wall())
        return None


class PackageRound(PlaybackRound):
    """DescribeLivePackageInfo for traffic, transcode and co-hosting packages, page by page."""

    action = cssapi.PACKAGE_INFO
    kind = PACKAGES

    def __init__(self, ctx: Context, account: str, targets: tuple[TargetSpec, ...]) -> None:
        super().__init__(ctx, account, targets)
        self._type = 0  # index in PACKAGE_TYPES
        self._page = 1
        self._found: list[Package] = []
        self._failed = False

    def run(self) -> Job | None:
        begun = self._begin()
        if begun is None:
            return None
        acc, _, client, book = begun
        package_type = PACKAGE_TYPES[self._type]
        answer = calls.packages(client, package_type, self._page)
        outcome = self._outcome(acc, book, answer if isinstance(answer, ApiError) else None)
        if outcome == RETRY:
            return self
        if outcome == OK and not isinstance(answer, ApiError):
            self._found.extend(answer.packages)
            if self._page < min(answer.total_pages, MAX_PACKAGE_PAGES) and answer.packages:
                self._page += 1
                return self
            book.packages_applied(package_type, self._found, self.ctx.wall())
        elif not book.available(self.action, acc.spec.connection):
            return None
        else:
            self._failed = True  # this type keeps what it had; the next type is read
        self._type += 1
        self._page, self._found = 1, []
        if self._type < len(PACKAGE_TYPES):
            return self
        book.counted(PACKAGES, "error" if self._failed else "ok", self.ctx.wall())
        return None
