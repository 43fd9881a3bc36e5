"""Playback's account and play-domain metrics, read from each account's book at scrape time.

Only accounts with play domains have series, and only for the play domains configured now: a
reload that removes one removes its series from the next scrape on. Per-stream viewers are in the
exposition (``tencent_live_stream_viewers`` ...).
"""

from __future__ import annotations

from collections.abc import Iterable

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.metrics_core import Metric
from prometheus_client.registry import Collector

from exporter import cssapi
from exporter.client.playback import PACKAGE_STATUSES
from exporter.polling.engine import Poller
from exporter.polling.playback_book import KINDS, BookView, book_of
from exporter.runtime.playback import PlaybackSpec

_A = ["account"]
_P = ["account", "play_domain"]
_K = ["account", "package_type", "package"]
_STATUSES = (*PACKAGE_STATUSES.values(), "unknown")


def _gauge(name: str, doc: str, labels: list[str]) -> GaugeMetricFamily:
    return GaugeMetricFamily(name, doc, labels=labels)


class PlaybackCollector(Collector):
    def __init__(self, poller: Poller) -> None:
        self._poller = poller

    def _books(self) -> list[tuple[str, PlaybackSpec, BookView]]:
        out = []
        for name, acc in sorted(self._poller.dispatcher.accounts.items()):
            spec = acc.spec.playback
            if spec is not None:
                book = book_of(acc.guard)
                book.keep_play_domains(spec.names)
                out.append((name, spec, book.view()))
        return out

    def collect(self) -> Iterable[Metric]:
        books = self._books()
        yield from self._accounts(books)
        yield from self._untracked(books)
        yield from self._domains(books)
        yield from self._health(books)
        yield from self._packages(books)

    def _accounts(self, books: list[tuple[str, PlaybackSpec, BookView]]) -> Iterable[Metric]:
        minute = _gauge(
            "tencent_live_playback_data_timestamp_seconds",
            "Unix time of the minute the per-stream viewer figures are from (Tencent's data is "
            "minutes old; the exporter asks for the minute data_lag ago). Stays put while the "
            "calls fail: the figures age, they are not zeroed.",
            _A,
        )
        missed = CounterMetricFamily(
            "tencent_live_playback_missed_data_seconds",
            "Viewer data never applied, in seconds (60 per minute missed: calls failed or came "
            "late, so a later minute was asked for).",
            labels=_A,
        )
        rounds = CounterMetricFamily(
            "tencent_live_playback_rounds",
            "Playback rounds by round and result: ok, error (values kept, aged), held (an answer "
            "without any playback after minutes with some: not believed once), unavailable.",
            labels=["account", "round", "result"],
        )
        last = _gauge(
            "tencent_live_playback_last_success_timestamp_seconds",
            "Unix time of the last complete playback round, by round.",
            ["account", "round"],
        )
        available = _gauge(
            "tencent_live_playback_available",
            "1 if the account may make the playback call, 0 once it answered that it cannot "
            "(not on its site, retired, or denied by CAM): the call is then not made.",
            ["account", "action"],
        )
        for name, _, view in books:
            if view.viewer_minute is not None:
                minute.add_metric([name], view.viewer_minute)
            missed.add_metric([name], 60.0 * view.missed_minutes)
            for kind in KINDS:
                for result in ("ok", "error", "held", "unavailable"):
                    count = view.rounds.get((kind, result))
                    if count:
                        rounds.add_metric([name, kind, result], float(count))
                if kind in view.last_success:
                    last.add_metric([name, kind], view.last_success[kind])
            for action in cssapi.PLAYBACK_ACTIONS:
                available.add_metric([name, action], 0.0 if action in view.unavailable else 1.0)
        yield from (minute, missed, rounds, last, available)

    def _untracked(self, books: list[tuple[str, PlaybackSpec, BookView]]) -> Iterable[Metric]:
        what = "of the play domain's streams that no tracked stream matched, summed (at the data "
        what += "minute of tencent_live_playback_data_timestamp_seconds)"
        streams = _gauge(
            "tencent_live_playback_untracked_streams", f"Streams with playback {what}.", _P
        )
        viewers = _gauge("tencent_live_playback_untracked_viewers", f"Viewers {what}.", _P)
        bandwidth = _gauge(
            "tencent_live_playback_untracked_bytes_per_second",
            f"Playback bandwidth in bytes per second {what}.",
            _P,
        )
        requests = _gauge(
            "tencent_live_playback_untracked_requests_per_second",
            f"Playback requests per second {what}.",
            _P,
        )
        for name, spec, view in books:
            for play in spec.names:
                u = view.untracked.get(play)
                if u is None:
                    continue
                streams.add_metric([name, play], float(u.streams))
                viewers.add_metric([name, play], u.viewers)
                bandwidth.add_metric([name, play], u.bytes_per_second)
                requests.add_metric([name, play], u.requests)
        yield from (streams, viewers, bandwidth, requests)

    def _domains(self, books: list[tuple[str, PlaybackSpec, BookView]]) -> Iterable[Metric]:
        src = "From DescribeLiveDomainPlayInfoList (near real time), every region summed."
        viewers = _gauge("tencent_live_play_domain_viewers", f"Viewers (Online). {src}", _P)
        bandwidth = _gauge(
            "tencent_live_play_domain_bytes_per_second",
            f"Playback bandwidth in bytes per second (Bandwidth in Mbps x 125000). {src}",
            _P,
        )
        traffic = _gauge(
            "tencent_live_play_domain_traffic_bytes",
            f"Playback traffic of the minute in bytes (Flux, documented in MB). {src}",
            _P,
        )
        requests = _gauge(
            "tencent_live_play_domain_requests_per_second",
            f"Playback requests per second over the minute (Request / 60). {src}",
            _P,
        )
        stamp = _gauge(
            "tencent_live_play_domain_data_timestamp_seconds",
            f"Unix time of the minute the play-domain figures are from (Time). {src}",
            _P,
        )
        responses = CounterMetricFamily(
            "tencent_live_play_domain_responses",
            "Playback responses with an HTTP 4xx or 5xx code, by code_class, from "
            "DescribePlayErrorCodeDetailInfoList (one-minute counts, each added once however "
            "often its minute is read).",
            labels=[*_P, "code_class"],
        )
        for name, spec, view in books:
            minute = view.domains
            for play in spec.names:
                for cls in ("4xx", "5xx"):
                    total = view.errors.get((play, cls))
                    if total is not None:
                        responses.add_metric([name, play, cls], total)
                d = minute.domains.get(play) if minute is not None else None
                if minute is None or d is None:
                    continue
                viewers.add_metric([name, play], d.viewers)
                bandwidth.add_metric([name, play], d.bytes_per_second)
                traffic.add_metric([name, play], d.traffic_bytes)
                requests.add_metric([name, play], d.requests / 60.0)
                stamp.add_metric([name, play], minute.time)
        yield from (viewers, bandwidth, traffic, requests, stamp, responses)

    def _health(self, books: list[tuple[str, PlaybackSpec, BookView]]) -> Iterable[Metric]:
        expiry = _gauge(
            "tencent_live_play_domain_certificate_expiry_timestamp_seconds",
            "Unix time the play domain's HTTPS certificate expires (CertExpireTime, from "
            "DescribeLiveDomainCertBindings); absent for a domain without a certificate.",
            _P,
        )
        https = _gauge(
            "tencent_live_play_domain_https_enabled",
            "1 if HTTPS is on for the play domain (certificate binding Status 1), 0 if off.",
            _P,
        )
        for name, spec, view in books:
            for play in spec.names:
                cert = view.certs.get(play)
                if cert is not None:
                    expiry.add_metric([name, play], cert.expires)
                    https.add_metric([name, play], 1.0 if cert.https else 0.0)
        yield from (expiry, https)

    def _packages(self, books: list[tuple[str, PlaybackSpec, BookView]]) -> Iterable[Metric]:
        src = "From DescribeLivePackageInfo"
        used_bytes = _gauge(
            "tencent_live_package_used_bytes", f"Traffic used of a traffic package. {src}.", _K
        )
        left_bytes = _gauge(
            "tencent_live_package_remaining_bytes",
            f"Traffic left in a traffic package. {src}.",
            _K,
        )
        used_seconds = _gauge(
            "tencent_live_package_used_seconds",
            f"Time used of a transcode (minutes) or co-hosting (hours) package. {src}.",
            _K,
        )
        left_seconds = _gauge(
            "tencent_live_package_remaining_seconds",
            f"Time left in a transcode or co-hosting package. {src}.",
            _K,
        )
        ratio = _gauge(
            "tencent_live_package_used_ratio", f"Used / Total of a package (0 to 1). {src}.", _K
        )
        expiry = _gauge(
            "tencent_live_package_expiry_timestamp_seconds",
            f"Unix time the package expires (ExpireTime). {src}.",
            _K,
        )
        status = _gauge(
            "tencent_live_package_status",
            f"Package status as a state set (unused, in_use, expired, frozen, exhausted). {src}; "
            "refunded packages and those expired over 7 days ago are not shown.",
            [*_K, "status"],
        )
        renew = _gauge(
            "tencent_live_package_auto_renew",
            f"1 if the package renews itself when used up or expired (WillRenew). {src}.",
            _K,
        )
        for name, _, view in books:
            for p in sorted(view.packages, key=lambda p: (p.kind, p.id)):
                labels = [name, p.kind, p.id]
                if p.kind == "traffic":
                    used_bytes.add_metric(labels, p.used)
                    left_bytes.add_metric(labels, p.left)
                else:
                    used_seconds.add_metric(labels, p.used)
                    left_seconds.add_metric(labels, p.left)
                if p.total > 0:
                    ratio.add_metric(labels, min(1.0, p.used / p.total))
                expiry.add_metric(labels, p.expires)
                for s in _STATUSES:
                    status.add_metric([*labels, s], 1.0 if p.status == s else 0.0)
                if p.will_renew is not None:
                    renew.add_metric(labels, 1.0 if p.will_renew else 0.0)
        yield from (used_bytes, left_bytes, used_seconds, left_seconds, ratio, expiry)
        yield from (status, renew)
