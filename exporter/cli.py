"""Command line: Prometheus-style flags, config check, demo mode, signal handling."""

from __future__ import annotations

import argparse
import functools
import logging
import os
import platform
import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING

from exporter import __version__, heap, logs, malloc
from exporter.safefile import DEFAULT_MAX_BYTES
from exporter.signals import Signals

if TYPE_CHECKING:
    from exporter.config import Config
    from exporter.web import Limits, WebConfig

log = logging.getLogger("exporter")


DEFAULT_CONFIG_BYTES = DEFAULT_MAX_BYTES  # 32 MiB


def _size(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"want a number of bytes, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"want a positive number of bytes, got {value}")
    return value


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="tencent-live-exporter",
        description="Prometheus exporter for Tencent Cloud CSS (live) stream state.",
    )
    p.add_argument(
        "--config.file",
        dest="config_file",
        default="config.yaml",
        help="Path to the configuration file (default: %(default)s).",
    )
    p.add_argument(
        "--web.listen-address",
        dest="listen_address",
        default=":9879",
        help="Address to listen on for metrics and the web interface (default: %(default)s).",
    )
    p.add_argument(
        "--web.config.file",
        dest="web_config_file",
        default=None,
        help="Path to a web config file (Prometheus exporter-toolkit format) that enables TLS"
        " and/or basic authentication (default: none).",
    )
    p.add_argument(
        "--web.enable-lifecycle",
        dest="enable_lifecycle",
        action="store_true",
        help="Enable POST /-/reload (behind basic auth when the web config has users); without"
        " it the endpoint answers 403, as in Prometheus (default: off).",
    )
    p.add_argument(
        "--web.max-connections",
        dest="max_connections",
        type=_positive_int,
        default=512,
        help="Maximum simultaneous client connections; over it the quietest one is closed to"
        " make room (default: %(default)s; lowered to fit the open files limit).",
    )
    p.add_argument(
        "--web.read-header-timeout",
        dest="read_header_timeout",
        type=_duration,
        default="10s",
        help="Maximum time to read a request's line and headers (default: %(default)s).",
    )
    p.add_argument(
        "--web.read-timeout",
        dest="read_timeout",
        type=_duration,
        default="30s",
        help="Maximum time to read a whole request, headers and body (default: %(default)s).",
    )
    p.add_argument(
        "--web.write-timeout",
        dest="write_timeout",
        type=_duration,
        default="1m",
        help="Maximum time to write one response to a client (default: %(default)s).",
    )
    p.add_argument(
        "--web.idle-timeout",
        dest="idle_timeout",
        type=_duration,
        default="2m",
        help="How long a keep-alive connection may wait for its next request"
        " (default: %(default)s).",
    )
    p.add_argument(
        "--web.handler-threads",
        dest="handler_threads",
        type=_positive_int,
        default=4,
        help="Threads for each kind of request (scrapes, the status page, CSS callbacks), so"
        " that a flood of one kind cannot starve another (default: %(default)s).",
    )
    p.add_argument(
        "--web.max-header-bytes",
        dest="max_header_bytes",
        type=_positive_int,
        default=32768,
        help="Maximum size of a request's line and headers (default: %(default)s).",
    )
    p.add_argument(
        "--config.max-bytes",
        dest="config_max_bytes",
        type=_size,
        default=DEFAULT_CONFIG_BYTES,
        help="Refuse a configuration file larger than this many bytes before parsing it "
        "(default: %(default)s, 32 MiB; a 200,000-stream config is about 4 MB).",
    )
    p.add_argument(
        "--config.check",
        dest="config_check",
        action="store_true",
        help="Validate the configuration file, print a summary and exit (0 valid, 1 invalid).",
    )
    p.add_argument(
        "--demo",
        action="store_true",
        help="Run against a built-in CSS simulator with a demo scenario instead of Tencent Cloud.",
    )
    p.add_argument(
        "--log.level",
        dest="log_level",
        choices=logs.LEVELS,
        default="info",
        help="Only log messages with the given severity or above (default: %(default)s).",
    )
    p.add_argument(
        "--log.format",
        dest="log_format",
        choices=("logfmt", "json"),
        default="logfmt",
        help="Output format of log messages (default: %(default)s).",
    )
    p.add_argument(
        "--shard.count",
        dest="shard_count",
        type=int,
        default=1,
        help="Split the streams (and discovering targets) over this many exporter processes, "
        "each spending 1/count of every account's budget (default: %(default)s).",
    )
    p.add_argument(
        "--shard.index",
        dest="shard_index",
        type=int,
        default=None,
        help="This process's shard, 0 to count-1. Default: the ordinal at the end of the "
        "HOSTNAME environment variable (a StatefulSet pod name such as exporter-2).",
    )
    p.add_argument("--version", action="store_true", help="Show version and exit.")
    return p


def _duration(text: str) -> float:
    from exporter.durations import parse_duration

    try:
        seconds = parse_duration(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"invalid duration {text!r} (e.g. 10s, 1m)") from None
    if seconds <= 0:
        raise argparse.ArgumentTypeError(f"must be above 0, got {text!r}")
    return seconds


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"invalid number {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {text!r}")
    return value


def web_limits(args: argparse.Namespace) -> Limits:
    """The web server's bounds from the --web.* flags."""
    from exporter.web import Limits

    return Limits(
        max_connections=args.max_connections,
        read_header_timeout=args.read_header_timeout,
        read_timeout=args.read_timeout,
        write_timeout=args.write_timeout,
        idle_timeout=args.idle_timeout,
        handler_threads=args.handler_threads,
        max_header_bytes=args.max_header_bytes,
    )


def _fail(message: str, code: int = 1) -> int:
    print(f"tencent-live-exporter: {logs.redact(message)}", file=sys.stderr)
    return code


def _load_config(path: str, max_bytes: int) -> Config | None:
    """The config, or None after printing its problems one per line."""
    from exporter.config import ConfigError, load_config

    try:
        return load_config(path, max_bytes=max_bytes)
    except ConfigError as exc:
        for problem in exc.problems:
            print(problem, file=sys.stderr)
        return None


def _load_web_config(path: str | None) -> tuple[bool, WebConfig | None]:
    """(ok, web config): (True, None) without a file; (False, None) after printing problems."""
    if path is None:
        return True, None
    from exporter.web import WebConfigError, load_web_config

    try:
        return True, load_web_config(path)
    except WebConfigError as exc:
        for problem in exc.problems:
            print(logs.redact(problem), file=sys.stderr)
        return False, None


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.version:
        print(f"tencent-live-exporter, version {__version__} (python {platform.python_version()})")
        return 0

    # Imported late: --version and --help stay instant and work even with a broken install.
    from exporter.catalog import describe, estimate
    from exporter.config import summarize
    from exporter.exposition.filter import MetricFilter

    if args.config_check:
        config = _load_config(args.config_file, args.config_max_bytes)
        web_ok, web_config = _load_web_config(args.web_config_file)
        if config is None or not web_ok:
            return 1
        print(summarize(config))
        enabled = MetricFilter(tuple(config.metrics.allow), tuple(config.metrics.deny))
        for line in describe(estimate(config, enabled), enabled):
            print(line)
        print(f"{args.config_file}: configuration is valid")
        if web_config is not None:
            print(f"{args.web_config_file}: web config is valid: {web_config.describe()}")
        return 0

    logs.setup(args.log_level, args.log_format)
    # First, before anything slow: a signal must never find the default action in place.
    signals = Signals()
    signals.install()
    return _run(args, signals)


def _run(args: argparse.Namespace, signals: Signals) -> int:
    from exporter.app import App
    from exporter.config import load_config
    from exporter.web import parse_listen_address, raise_nofile_limit

    try:
        parse_listen_address(args.listen_address)
    except ValueError as exc:
        return _fail(f"--web.listen-address: {exc}")
    limits = web_limits(args)
    if limits.problems():
        for problem in limits.problems():
            _fail(problem)
        return 1
    # As Go's runtime does: the hard limit is what the operator allowed; the soft one is only
    # a default for programs that select() on descriptors, which this one does not.
    soft, hard = raise_nofile_limit()
    log.debug("open files limit: %d (hard %d)", soft, hard)
    # The web server's event loop gives up the GIL at every system call and then waits up to
    # the switch interval to get it back from busy poller or render threads: 5 ms by default,
    # which under load turned a 20-client scrape test's p50 from 0.4 s into 1.7 s (1 ms: 0.9 s).
    # 0.2 ms: scrapes during a 100k-stream reload p50 17 -> 11 ms, p99 53 -> 28-38 ms
    # (benchmarks/startup.py); CPU per State call unchanged (client_cpu.py: 1.02x either way).
    sys.setswitchinterval(0.0002)

    web_ok, web_config = _load_web_config(args.web_config_file)
    if not web_ok:
        return 1
    from exporter.sharding import Shard

    try:
        shard = Shard.resolve(args.shard_index, args.shard_count, os.environ.get("HOSTNAME"))
    except ValueError as exc:
        return _fail(f"--shard.index/--shard.count: {exc}")

    malloc.tune()
    sim = None
    loaded = None
    if args.demo:
        from exporter.demo import start_demo

        sim, config = start_demo()
        log.info("demo mode: polling the built-in CSS simulator at %s", sim.url)
    else:
        loaded = _load_config(args.config_file, args.config_max_bytes)
        if loaded is None:
            return 1
        config = loaded
    if signals.stop.is_set():  # SIGTERM while loading: stop before building anything
        return 0

    loader = (
        None
        if args.demo
        else functools.partial(load_config, args.config_file, max_bytes=args.config_max_bytes)
    )
    try:
        app = App(config, args.listen_address, web_config=web_config, shard=shard, loader=loader)
    except OSError as exc:
        if sim is not None:
            sim.stop()
        return _fail(f"cannot listen on {args.listen_address}: {exc.strerror or exc}")
    # The app keeps what it needs; the full config (every stream entry) can go.
    del config, loaded
    # What is alive now lives until a reload: out of the collector's way (exporter/heap.py).
    heap.freeze_long_lived()
    heap.settle()
    app.web.configure(limits=limits, enable_lifecycle=args.enable_lifecycle)

    if signals.stop.is_set():
        app.web.stop()
        if sim is not None:
            sim.stop()
        return 0
    log.info("starting tencent-live-exporter %s", __version__)
    if shard.enabled:
        log.info(
            "shard %s: polling this shard's streams with 1/%d of each budget", shard, shard.count
        )
    app.start()
    if sim is not None and sim.callbacks is not None:
        sim.set_callback_url(f"{app.web.scheme}://127.0.0.1:{app.web.port}{app.callback_path}")
    signals.ready(app.reload)
    signals.wait()
    app.stop()
    if sim is not None:
        sim.stop()
    log.info("stopped")
    return 0
