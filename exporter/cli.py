"""Command line: Prometheus-style flags, config check, demo mode, signal handling."""

from __future__ import annotations

import argparse
import functools
import logging
import os
import platform
import signal
import sys
import threading
from collections.abc import Sequence
from types import FrameType
from typing import TYPE_CHECKING

from exporter import __version__, logs, malloc

if TYPE_CHECKING:
    from exporter.config import Config
    from exporter.webconfig import WebConfig

log = logging.getLogger("exporter")


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


def _fail(message: str, code: int = 1) -> int:
    print(f"tencent-live-exporter: {logs.redact(message)}", file=sys.stderr)
    return code


def _load_config(path: str) -> Config | None:
    """The config, or None after printing its problems one per line."""
    from exporter.config import ConfigError, load_config

    try:
        return load_config(path)
    except ConfigError as exc:
        for problem in exc.problems:
            print(problem, file=sys.stderr)
        return None


def _load_web_config(path: str | None) -> tuple[bool, WebConfig | None]:
    """(ok, web config): (True, None) without a file; (False, None) after printing problems."""
    if path is None:
        return True, None
    from exporter.webconfig import WebConfigError, load_web_config

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
    from exporter.config import load_config, summarize

    if args.config_check:
        config = _load_config(args.config_file)
        web_ok, web_config = _load_web_config(args.web_config_file)
        if config is None or not web_ok:
            return 1
        print(summarize(config))
        print(f"{args.config_file}: configuration is valid")
        if web_config is not None:
            print(f"{args.web_config_file}: web config is valid: {web_config.describe()}")
        return 0

    logs.setup(args.log_level, args.log_format)
    from exporter.app import App
    from exporter.web import parse_listen_address

    try:
        parse_listen_address(args.listen_address)
    except ValueError as exc:
        return _fail(f"--web.listen-address: {exc}")

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
        loaded = _load_config(args.config_file)
        if loaded is None:
            return 1
        config = loaded

    loader = None if args.demo else functools.partial(load_config, args.config_file)
    try:
        app = App(config, args.listen_address, web_config=web_config, shard=shard, loader=loader)
    except OSError as exc:
        if sim is not None:
            sim.stop()
        return _fail(f"cannot listen on {args.listen_address}: {exc.strerror or exc}")
    # The app keeps what it needs; the full config (every stream entry) can go.
    del config, loaded

    stop = threading.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        log.info("received %s, shutting down", signal.Signals(signum).name)
        stop.set()

    def on_hup(signum: int, frame: FrameType | None) -> None:
        # Reload outside the signal handler: it takes locks the interrupted code may hold.
        threading.Thread(target=app.reload, name="reload", daemon=True).start()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGHUP, on_hup)
    log.info("starting tencent-live-exporter %s", __version__)
    if shard.enabled:
        log.info(
            "shard %s: polling this shard's streams with 1/%d of each budget", shard, shard.count
        )
    app.start()
    if sim is not None and sim.callbacks is not None:
        sim.set_callback_url(f"{app.web.scheme}://127.0.0.1:{app.web.port}{app.callback_path}")
    # Python runs signal handlers in the main thread, and a signal the kernel hands to a
    # worker thread does not wake a main thread blocked on a lock: wake up to look for one.
    while not stop.wait(0.2):
        pass
    app.stop()
    if sim is not None:
        sim.stop()
    log.info("stopped")
    return 0
