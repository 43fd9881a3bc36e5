"""The human summary of a valid config that ``--config.check`` prints."""

from __future__ import annotations

from exporter.config.accounts import Credentials
from exporter.config.models import Config
from exporter.durations import format_duration

__all__ = ["summarize"]


def _mask(secret_id: str) -> str:
    # Enough to tell two keys apart, far too little to use one.
    return f"{secret_id[:4]}****{secret_id[-4:]}" if len(secret_id) >= 12 else "****"


def _describe_credentials(credentials: Credentials) -> str:
    if credentials.secret_id is None:
        return "credentials from the SDK default chain"
    token = ", with token" if credentials.token is not None else ""
    return f"credentials explicit (secret_id {_mask(credentials.secret_id)}{token})"


def summarize(config: Config) -> str:
    """A human summary of a valid config; never contains secret_key or token."""
    lines = [f"accounts: {len(config.accounts)}"]
    for account in config.accounts:
        details = [
            f"endpoint {account.endpoint}",
            "site "
            + (account.site_name if account.site_name != "strict" else "not set (stricter limits)"),
            _describe_credentials(account.credentials),
            f"budget {account.budget_fraction:g} of each action's limit"
            f" ({account.budget('DescribeLiveStreamState'):g} State req/s)",
            f"timeout {format_duration(account.timeout)}",
        ]
        if account.max_workers is not None:
            details.append(f"max_workers {account.max_workers}")
        if account.callback_keys:
            details.append(f"{len(account.callback_keys)} callback key(s)")
        lines.append(f"  {account.name}: {', '.join(details)}")
        for play in account.play_domains:
            lines.append(
                f"    play domain {play.name}: plays {', '.join(play.push_domains)}"
                f" (viewers every {format_duration(account.playback.interval)})"
            )
    total = sum(len(target.streams) for target in config.targets)
    lines.append(f"targets: {len(config.targets)}, streams: {total}")
    for target in config.targets:
        count = len(target.streams)
        line = (
            f"  {target.account} {target.domain}/{target.app}:"
            f" {count} stream{'' if count == 1 else 's'}"
            + (" + discovery" if target.discovers else "")
            + f", mode {target.mode}"
            f", every {format_duration(target.interval)}"
            f" (stale after {format_duration(target.effective_stale_after)})"
        )
        if target.labels:
            line += ", labels " + ", ".join(f"{k}={v}" for k, v in target.labels.items())
        expected = sum(1 for stream in target.streams if stream.expect_live is not None)
        if expected:
            line += f", expect_live set on {expected}"
        lines.append(line)
    return "\n".join(lines)
