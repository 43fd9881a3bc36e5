"""``tencent-live-simulator``: run the fake CSS API until SIGINT/SIGTERM."""

from __future__ import annotations

import argparse
import gc
import os
import signal
import sys
import threading
from collections.abc import Sequence
from dataclasses import replace
from typing import NoReturn

from exporter.simulator.generate import GenerateSpec
from exporter.simulator.scenario import Scenario, ScenarioError, load_scenario
from exporter.simulator.simulator import Simulator
from exporter.simulator.world import World

PROG = "tencent-live-simulator"


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        # One line naming the problem; the full usage is one --help away.
        self.exit(2, f"{self.prog}: error: {message}\n")


def _listen(value: str) -> tuple[str, int]:
    host, sep, port = value.rpartition(":")
    if not sep or not host:
        raise argparse.ArgumentTypeError(f"expected HOST:PORT, got {value!r}")
    try:
        number = int(port)
    except ValueError:
        raise argparse.ArgumentTypeError(f"invalid port in {value!r}") from None
    if not 0 <= number <= 65535:
        raise argparse.ArgumentTypeError(f"port out of range in {value!r}")
    return host.strip("[]"), number


def _non_negative(value: str) -> int:
    try:
        number = int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an integer, got {value!r}") from None
    if number < 0:
        raise argparse.ArgumentTypeError(f"must be >= 0, got {number}")
    return number


def _credential(value: str) -> tuple[str, str, str | None]:
    parts = value.split(":", 2)
    if len(parts) < 2 or not parts[0] or not parts[1]:
        raise argparse.ArgumentTypeError("expected SECRET_ID:SECRET_KEY[:TOKEN]")
    return parts[0], parts[1], (parts[2] if len(parts) == 3 and parts[2] else None)


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog=PROG,
        description="Fake Tencent Cloud CSS (live 2018-08-01) API for tests and demos. "
        "The /-/sim/ control API is unauthenticated: bind to loopback only.",
    )
    parser.add_argument(
        "--listen",
        type=_listen,
        default=("127.0.0.1", 8080),
        metavar="HOST:PORT",
        help="address to serve on (default 127.0.0.1:8080; port 0 picks a free one)",
    )
    parser.add_argument(
        "--secret-id",
        default=os.environ.get("TENCENTCLOUD_SECRET_ID"),
        help="accepted SecretId (default $TENCENTCLOUD_SECRET_ID)",
    )
    parser.add_argument(
        "--secret-key",
        default=os.environ.get("TENCENTCLOUD_SECRET_KEY"),
        help="its SecretKey (default $TENCENTCLOUD_SECRET_KEY)",
    )
    parser.add_argument("--token", help="require this X-TC-Token with --secret-id")
    parser.add_argument(
        "--credential",
        type=_credential,
        action="append",
        default=[],
        metavar="ID:KEY[:TOKEN]",
        help="an additional accepted key pair (repeatable)",
    )
    parser.add_argument("--scenario", metavar="FILE", help="scenario YAML file")
    parser.add_argument(
        "--generate", type=_non_negative, metavar="N", help="add N generated streams over 3 domains"
    )
    parser.add_argument("--seed", type=int, help="seed for generation and fault injection")
    parser.add_argument("--callback-url", help="POST push/interrupt callbacks here")
    parser.add_argument("--callback-key", help="callback key used for the sign field")
    return parser


def _scenario(args: argparse.Namespace) -> Scenario:
    scenario = load_scenario(args.scenario)
    if args.seed is not None:
        scenario = replace(scenario, seed=args.seed)
    if args.generate is not None:
        base = scenario.generate or GenerateSpec(count=0)
        seed = args.seed if args.seed is not None else base.seed
        scenario = replace(scenario, generate=replace(base, count=args.generate, seed=seed))
    return scenario


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not args.secret_id or not args.secret_key:
        parser.error("--secret-id and --secret-key are required")
    if bool(args.callback_url) != bool(args.callback_key):
        parser.error("--callback-url and --callback-key go together")
    if args.callback_url and not args.callback_url.startswith(("http://", "https://")):
        parser.error(
            f"--callback-url must be an http:// or https:// URL, got {args.callback_url!r}"
        )
    try:
        scenario = _scenario(args)
    except ScenarioError as exc:
        parser.error(f"--scenario: {exc}")
    credentials = {args.secret_id: args.secret_key}
    tokens = {args.secret_id: args.token} if args.token else {}
    for secret_id, secret_key, token in args.credential:
        credentials[secret_id] = secret_key
        if token:
            tokens[secret_id] = token
    world = World.from_scenario(scenario)
    # The world lives as long as the process: out of the collector's way. Each 20k-stream page
    # builds 60k objects, enough to set off full collections that walked 100k streams' worth of
    # world: a page took 190 ms of CPU, 100 ms once frozen.
    gc.freeze()
    host, port = args.listen
    sim = Simulator(
        world,
        credentials,
        tokens,
        host=host,
        port=port,
        callback_url=args.callback_url,
        callback_key=args.callback_key,
    )
    try:
        sim.start()
    except OSError as exc:
        parser.error(f"--listen: cannot listen on {host}:{port}: {exc.strerror or exc}")

    stopping = threading.Event()

    def _on_signal(signum: int, frame: object) -> None:
        stopping.set()

    signal.signal(signal.SIGTERM, _on_signal)
    signal.signal(signal.SIGINT, _on_signal)
    print(f"{PROG}: listening on {sim.url} with {len(world)} streams", flush=True)
    try:
        while not stopping.wait(0.5):
            pass
    finally:
        sim.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
