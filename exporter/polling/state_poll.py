"""A state poll: one DescribeLiveStreamState call for one stream."""

from __future__ import annotations

from collections.abc import Hashable

from exporter import cssapi
from exporter.model import ApiError, Observation, Source, StreamKey
from exporter.polling.context import Context
from exporter.polling.lanes import Job
from exporter.runtime.plan import TargetSpec


class StatePoll:
    """``scheduled``: the stream's own slot (state mode, or the forbid fallback); otherwise a
    one-off confirmation of a stream that left the online list."""

    action = cssapi.STATE

    def __init__(
        self, ctx: Context, target: TargetSpec, key: StreamKey, due: float, scheduled: bool
    ) -> None:
        self.ctx = ctx
        self.spec = target
        self.key = key
        self.due = due
        self.scheduled = scheduled
        self.ident: Hashable = ("s", key)
        self.account = key.account
        self.domain: str | None = key.domain
        self.target: str | None = target.name

    def run(self) -> Job | None:
        ctx, name = self.ctx, self.spec.name
        acc = ctx.account(self.account)
        if acc is None:
            return None
        started = ctx.wall()
        state_mode = ctx.progress.mode(name) == "state"
        if state_mode:
            ctx.progress.lagged(name, ctx.clock() - self.due)
        result = acc.client.stream_state(self.key)
        if isinstance(result, ApiError):
            ctx.report(acc, self.action, result, self.domain)
            obs = Observation(self.key, started, Source.STATE_API, error=result)
        else:
            ctx.report(acc, self.action, None, self.domain)
            obs = Observation(self.key, started, Source.STATE_API, state=result)
            if state_mode:
                ctx.progress.succeeded(name, started)
        ctx.store.apply(obs, ctx.wall())
        return None

    def not_sent(self, reason: str) -> None:
        if reason == "backoff":
            self.ctx.progress.skipped(self.spec.name, "backoff")
            # A poll deliberately not sent still completes the stream's first round.
            self.ctx.store.mark_skipped(self.key)
