"""The viewer round: one DescribeAllStreamPlayInfoList call for the whole account, once a minute.

It asks for the minute Tencent has finished (``data_lag`` ago, on a minute boundary), every play
domain at once, and gives each tracked stream on a push domain those play domains serve its
viewers, bandwidth and requests of that minute, summed over play domains, protocols and rates.
A stream is matched by name among the tracked streams of the served push domains; a name that
matches none, or more than one (two push domains or two apps), is summed per play domain with
the untracked streams instead.

Never a false zero: a failed call leaves every value as it was (the account's data minute,
``tencent_live_playback_data_timestamp_seconds``, says how old they are); one answer without any
playback after minutes with some is held back (Tencent may not have finished the minute); a
stream absent from an answer that has playback is at zero, which is what Tencent's data says.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

from exporter import cssapi
from exporter.client import playback as calls
from exporter.client.playback import Play
from exporter.exposition import NO_PLAYBACK, pack_playback
from exporter.model import ApiError, StreamKey
from exporter.polling.guard import AccountGuard
from exporter.polling.lanes import Job
from exporter.polling.playback_book import VIEWERS, Untracked, book_of
from exporter.polling.playback_call import OK, RETRY, PlaybackRound
from exporter.runtime.plan import TargetSpec
from exporter.runtime.playback import PlaybackSpec

MINUTE = 60.0
# Accounts whose viewers are off (no play domains, or playback.viewers false) still get a round
# this often: it drops values a reload left behind, and makes no call.
CLEANUP_INTERVAL = 300.0


def asked_minute(wall: float, data_lag: float) -> float:
    """The minute to ask for: the start of the minute ``data_lag`` ago."""
    return math.floor((wall - data_lag) / MINUTE) * MINUTE


class ViewerRound(PlaybackRound):
    action = cssapi.ALL_STREAM_PLAY
    kind = VIEWERS

    def run(self) -> Job | None:
        acc = self.ctx.account(self.account)
        playback = acc.spec.playback if acc is not None else None
        if acc is not None and (playback is None or playback.viewers_interval is None):
            self._clear(acc.guard)
            return None
        begun = self._begin()
        if begun is None:
            return None
        acc, spec, client, book = begun
        ctx = self.ctx
        minute = asked_minute(ctx.wall(), spec.data_lag)
        last = book.viewer_minute()
        if last is not None and minute <= last:
            return None  # that minute is already applied: no call for nothing
        answer = calls.viewers(client, minute, spec.names)
        err = answer if isinstance(answer, ApiError) else None
        outcome = self._outcome(acc, book, err)
        if outcome == RETRY:
            return self
        if outcome != OK or isinstance(answer, ApiError):
            if book.available(self.action, acc.spec.connection):
                book.counted(VIEWERS, "error")
            return None  # every value stays, aged: the data minute says how old
        if not answer.plays and book.hold_empty():
            self._apply(spec, answer.plays, held=True)  # only drops what is no longer served
            book.counted(VIEWERS, "held")
            return None
        untracked = self._apply(spec, answer.plays)
        book.viewers_applied(
            minute, untracked if spec.untracked else None, bool(answer.plays), ctx.wall()
        )
        return None

    def _clear(self, guard: AccountGuard) -> None:
        """Viewers are off for the account: no values of it stay (a reload turned them off)."""
        gone = {k: None for k in self.ctx.exposition.playback_keys() if k.account == self.account}
        if gone:
            self.ctx.exposition.set_playback(gone)
        book_of(guard).viewers_off()

    def _served_targets(self, spec: PlaybackSpec) -> dict[str, list[TargetSpec]]:
        served = spec.push_domains
        by_domain: dict[str, list[TargetSpec]] = {}
        for t in self.targets:
            if t.account == self.account and t.domain in served:
                by_domain.setdefault(t.domain, []).append(t)
        return by_domain

    def _apply(
        self, spec: PlaybackSpec, plays: Mapping[tuple[str, str], Play], held: bool = False
    ) -> dict[str, Untracked]:
        ctx = self.ctx
        by_domain = self._served_targets(spec)
        indexes: dict[str, list[Mapping[str, StreamKey]]] = {}
        served_keys: list[StreamKey] = []
        for domain, targets in by_domain.items():
            for t in targets:
                view = ctx.membership.view(t.name)
                if view is not None:
                    indexes.setdefault(domain, []).append(view.index)
                    served_keys.extend(view.keys)
        sums: dict[StreamKey, list[float]] = {}
        untracked: dict[str, list[float]] = {name: [0, 0.0, 0.0, 0.0] for name in spec.names}
        for (play_domain, stream), play in plays.items():
            found: list[StreamKey] = []
            for push in spec.served(play_domain):
                for index in indexes.get(push, ()):
                    key = index.get(stream)
                    if key is not None:
                        found.append(key)
            if len(found) == 1:
                acc = sums.setdefault(found[0], [0.0, 0.0, 0.0])
                acc[0] += play.viewers
                acc[1] += play.bytes_per_second
                acc[2] += play.requests
                continue
            bucket = untracked.get(play_domain)
            if bucket is None:
                continue  # a play domain the call did not ask for
            bucket[0] += 1
            bucket[1] += play.viewers
            bucket[2] += play.bytes_per_second
            bucket[3] += play.requests / MINUTE
        updates: dict[StreamKey, bytes | None] = dict.fromkeys(served_keys, NO_PLAYBACK)
        for key, v in sums.items():
            updates[key] = pack_playback(v[0], v[1], v[2] / MINUTE)
        gone = {
            key: None
            for key in ctx.exposition.playback_keys()
            if key.account == self.account and key not in updates
        }  # no play domain serves them any more
        ctx.exposition.set_playback(gone if held else {**updates, **gone})
        return {name: Untracked(int(b[0]), b[1], b[2], b[3]) for name, b in untracked.items()}
