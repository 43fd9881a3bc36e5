"""Attacks on the exporter's HTTP side while a Prometheus-like client scrapes: does it hold?

Loopback only, bounded in connections and time, and it stops by itself. Two exporter processes
run in --demo mode with their open files limit set to --nofile (soft and hard): one plain, one
with TLS and basic auth (a bcrypt cost of 10, as real web configs use). Each attack runs for
--duration seconds with --connections attacking connections (each reconnects when the server
closes it, so the pressure stays), while a scraper asks for /metrics every --interval seconds
the way Prometheus does (keep-alive, gzip, a 10 s timeout, one retry on a reused connection the
server had closed). Then the attackers close and the harness waits for the exporter to be back
where it started (the connections its web port holds, and a good scrape). Per attack it prints:

- scrapes answered 200 out of all, and their p50/p99/max latency (during the attack);
- the exporter's peak threads, peak RSS, peak open descriptors and CPU seconds;
- recovery: seconds from the attack's end to the web port's connections at baseline and a good
  scrape (its descriptors as a whole are no measure: the demo's poller and simulator, in the
  same process, keep a pool of connections of their own that an attack's callbacks can grow);
- what the attackers saw (connections opened, answers by status).

Exit status 1 if any attack lost a scrape, killed the process or did not recover within the idle
timeout; in the full run also if a p99 was 1 s or more.

    .venv/bin/python benchmarks/attack.py                # full: 2,000 connections, 30 s each
    .venv/bin/python benchmarks/attack.py --short        # CI: 200 connections, 3 s each
    .venv/bin/python benchmarks/attack.py --only slowloris,idle
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import collections
import ctypes
import hashlib
import http.client
import json
import multiprocessing
import os
import random
import re
import resource
import signal
import socket
import ssl
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import contextlib

import bcrypt

from exporter.demo import DEMO_CALLBACK_KEY, DISCOVERY_TARGET

ROOT = Path(__file__).resolve().parent.parent
USER, PASSWORD = "prometheus", "scrape-password-for-the-harness"
# The exporter's default --web.idle-timeout: recovery must come within it.
IDLE_TIMEOUT = 120.0
HOST = "127.0.0.1"

# -- the exporter under attack ------------------------------------------------------------------


class Exporter:
    """``python -m exporter --demo`` with a fixed open files limit; its log drained."""

    def __init__(self, nofile: int, web_config: Path | None, extra: list[str]) -> None:
        with socket.socket() as probe:
            probe.bind((HOST, 0))
            self.port = probe.getsockname()[1]
        args = [sys.executable, "-m", "exporter", "--demo", "--log.level", "info"]
        args += ["--web.listen-address", f"{HOST}:{self.port}", *extra]
        if web_config is not None:
            args += ["--web.config.file", str(web_config)]

        def limit() -> None:
            resource.setrlimit(resource.RLIMIT_NOFILE, (nofile, nofile))
            # The exporter dies with the harness, however the harness ends.
            ctypes.CDLL(None).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG

        env = {k: v for k, v in os.environ.items() if not k.startswith("TENCENTCLOUD_")}
        # The log goes to a file, not a pipe: a pipe this busy process drains late would fill,
        # and the exporter would block writing its log, which is not what is measured here.
        self._log_file = tempfile.NamedTemporaryFile(  # noqa: SIM115 (closed in stop())
            "w+", prefix="exporter-", suffix=".log"
        )
        self.proc = subprocess.Popen(
            args,
            cwd=ROOT,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=self._log_file,
            text=True,
            preexec_fn=limit,
        )
        deadline = time.monotonic() + 30
        while "listening on" not in Path(self._log_file.name).read_text():
            if time.monotonic() > deadline or not self.alive():
                self.stop()
                raise RuntimeError("exporter did not start:\n" + "\n".join(self.log))
            time.sleep(0.05)

    @property
    def log(self) -> list[str]:
        return Path(self._log_file.name).read_text(errors="replace").splitlines()

    def alive(self) -> bool:
        return self.proc.poll() is None

    def sample(self) -> tuple[int, int, int, float]:
        """(threads, RSS bytes, open descriptors, CPU seconds) from /proc."""
        pid = self.proc.pid
        try:
            status = Path(f"/proc/{pid}/status").read_text()
            stat = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            fds = len(os.listdir(f"/proc/{pid}/fd"))
        except (OSError, IndexError):
            return 0, 0, 0, 0.0
        threads = int(re.search(r"Threads:\s+(\d+)", status)[1])  # type: ignore[index]
        rss = int(re.search(r"VmRSS:\s+(\d+)", status)[1]) * 1024  # type: ignore[index]
        ticks = os.sysconf("SC_CLK_TCK")
        cpu = (int(stat[11]) + int(stat[12])) / ticks
        return threads, rss, fds, cpu

    def web_connections(self) -> int:
        """Connections the web port holds: established (accepted or queued) or closed by the
        peer but not yet by the server (CLOSE_WAIT), from the kernel's socket tables."""
        held = 0
        for table in ("tcp", "tcp6"):
            try:
                lines = Path(f"/proc/{self.proc.pid}/net/{table}").read_text().splitlines()[1:]
            except OSError:
                continue
            for line in lines:
                fields = line.split()
                port = int(fields[1].rsplit(":", 1)[1], 16)
                held += port == self.port and fields[3] in ("01", "08")  # ESTABLISHED, CLOSE_WAIT
        return held

    def stop(self) -> None:
        if self.alive():
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()

    def close(self) -> None:
        self._log_file.close()


class Sampler(threading.Thread):
    """The exporter's threads, RSS, descriptors and CPU every 0.1 s."""

    def __init__(self, exporter: Exporter) -> None:
        super().__init__(daemon=True)
        self.exporter = exporter
        self.samples: list[tuple[float, int, int, int, float]] = []
        self.stopped = threading.Event()

    def run(self) -> None:
        while not self.stopped.wait(0.1):
            self.samples.append((time.monotonic(), *self.exporter.sample()))

    def between(self, start: float, end: float) -> list[tuple[float, int, int, int, float]]:
        return [s for s in self.samples if start <= s[0] <= end]


# -- the Prometheus-like scraper ----------------------------------------------------------------


@dataclass
class Scrape:
    at: float
    status: int  # 0: no answer
    latency: float
    error: str = ""  # what went wrong, and whether a retry on a new connection was needed


class Scraper:
    """GET /metrics every ``interval`` on a kept-alive connection, as Prometheus does.

    It runs in a process of its own, so that the attackers' work in this one (the GIL) does not
    show in its latencies; results come back over a queue.
    """

    def __init__(self, port: int, interval: float, tls: ssl.SSLContext | None, auth: bool) -> None:
        self.port, self.interval, self.tls = port, interval, tls
        self.headers = {
            "Accept": "application/openmetrics-text;version=1.0.0,text/plain;version=0.0.4;q=0.5",
            "Accept-Encoding": "gzip",
            "User-Agent": "Prometheus/2.53.0",
        }
        if auth:
            token = base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode()
            self.headers["Authorization"] = f"Basic {token}"
        self.scrapes: list[Scrape] = []
        self._conn: http.client.HTTPConnection | None = None
        mp = multiprocessing.get_context("fork")  # the TLS context is inherited, not pickled
        self._queue: multiprocessing.Queue[tuple[float, int, float, str] | None] = mp.Queue()
        self._stop = mp.Event()
        self._proc = mp.Process(target=self._child, daemon=True)
        self._collector = threading.Thread(target=self._collect, daemon=True)

    def start(self) -> None:
        self._proc.start()
        self._collector.start()

    def stop(self) -> None:
        self._stop.set()
        self._proc.join(15)
        if self._proc.is_alive():
            self._proc.kill()
        self._queue.put(None)
        self._collector.join(5)

    def _collect(self) -> None:
        while (item := self._queue.get()) is not None:
            self.scrapes.append(Scrape(*item))

    def _child(self) -> None:
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        next_at = time.monotonic()
        while not self._stop.is_set():
            start = time.monotonic()
            status, note = self.scrape()
            self._queue.put((start, status, time.monotonic() - start, note))
            next_at += self.interval
            self._stop.wait(max(0.0, next_at - time.monotonic()))

    def _connect(self) -> http.client.HTTPConnection:
        if self.tls is not None:
            return http.client.HTTPSConnection(HOST, self.port, timeout=10, context=self.tls)
        return http.client.HTTPConnection(HOST, self.port, timeout=10)

    def scrape(self) -> tuple[int, str]:
        note = ""
        for attempt in (0, 1):
            reused = self._conn is not None
            conn = self._conn or self._connect()
            self._conn = conn
            try:
                conn.request("GET", "/metrics", headers=self.headers)
                res = conn.getresponse()
                res.read()
                if res.getheader("Connection", "").lower() == "close":
                    conn.close()
                    self._conn = None
                return res.status, note
            except (OSError, http.client.HTTPException) as exc:
                conn.close()
                self._conn = None
                note += f"{'reused' if reused else 'new'} connection: {type(exc).__name__}; "
                # Go's transport retries once when a reused connection turns out closed.
                if not reused or attempt == 1:
                    return 0, note
        return 0, note

    def between(self, start: float, end: float) -> list[Scrape]:
        return [s for s in self.scrapes if start <= s.at <= end]


# -- the attacks ---------------------------------------------------------------------------------


@dataclass
class Seen:
    opened: int = 0
    failed_connects: int = 0
    statuses: collections.Counter[int] = field(default_factory=collections.Counter)


@dataclass
class Target:
    port: int
    tls: ssl.SSLContext | None
    seen: Seen
    pace: float  # seconds between a slow attacker's bytes
    # Checked in every loop: asyncio.wait_for in 3.11 can swallow a cancellation.
    stopping: bool = False


Behaviour = Callable[[asyncio.StreamReader, asyncio.StreamWriter, Target], Awaitable[None]]


async def _answer(reader: asyncio.StreamReader, target: Target) -> int:
    head = await reader.readuntil(b"\r\n\r\n")
    status = int(head.split(b" ", 2)[1])
    match = re.search(rb"(?i)content-length:\s*(\d+)", head)
    if match:
        await reader.readexactly(int(match[1]))
    target.seen.statuses[status] += 1
    return status


async def _until_closed(reader: asyncio.StreamReader, seconds: float) -> bool:
    """True once the server has closed; False if it is still open after ``seconds``."""
    try:
        data = await asyncio.wait_for(reader.read(4096), seconds)
    except TimeoutError:
        return False
    except OSError:
        return True
    return not data


async def slowloris(reader: asyncio.StreamReader, w: asyncio.StreamWriter, t: Target) -> None:
    w.write(b"GET /metrics HTTP/1.1\r\nHost: x\r\n")
    while not t.stopping and not await _until_closed(reader, t.pace):
        w.write(b"X-a: b\r\n")  # a header line every few seconds, never the blank line


async def idle(reader: asyncio.StreamReader, w: asyncio.StreamWriter, t: Target) -> None:
    w.write(b"GET /-/healthy HTTP/1.1\r\nHost: x\r\n\r\n")
    await _answer(reader, t)
    while not t.stopping and not await _until_closed(reader, 1.0):
        pass


async def never_read(reader: asyncio.StreamReader, w: asyncio.StreamWriter, t: Target) -> None:
    request = b"GET /metrics HTTP/1.1\r\nHost: x\r\nAccept-Encoding: identity\r\n\r\n"
    while not t.stopping:
        w.write(request * 20)  # and never a byte read
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(w.drain(), t.pace)
        await asyncio.sleep(t.pace)


async def slow_body(reader: asyncio.StreamReader, w: asyncio.StreamWriter, t: Target) -> None:
    w.write(
        b"POST /callbacks/live HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        b"Content-Length: 60000\r\n\r\n{"
    )
    while not t.stopping and not await _until_closed(reader, t.pace):
        w.write(b" ")


async def big_headers(reader: asyncio.StreamReader, w: asyncio.StreamWriter, t: Target) -> None:
    w.write(b"GET /metrics HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 40000 + b"\r\n\r\n")
    await _answer(reader, t)
    await _until_closed(reader, 10)


async def smuggle(reader: asyncio.StreamReader, w: asyncio.StreamWriter, t: Target) -> None:
    hidden = b"POST /-/reload HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n"
    if random.random() < 0.5:
        w.write(
            b"POST /callbacks/live HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n"
            b"Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n" + hidden
        )
    else:
        w.write(
            b"POST /callbacks/live HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n"
            b"Content-Length: 60\r\n\r\n{}" + hidden
        )
    await _answer(reader, t)
    await _until_closed(reader, 10)


def _post_callback(w: asyncio.StreamWriter, body: bytes) -> None:
    w.write(
        b"POST /callbacks/live HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        + f"Content-Length: {len(body)}\r\n\r\n".encode()
        + body
    )


async def callback_flood(reader: asyncio.StreamReader, w: asyncio.StreamWriter, t: Target) -> None:
    domain, app = DISCOVERY_TARGET
    while not t.stopping:
        expiry = int(time.time()) + 600
        body = json.dumps(
            {
                "app": domain,
                "appname": app,
                "stream_id": f"flood-{random.getrandbits(48):x}",
                "event_type": 1,
                "event_time": expiry - 600,
                "sequence": str(random.getrandbits(60)),
                "t": expiry,
                "sign": hashlib.md5(f"{DEMO_CALLBACK_KEY}{expiry}".encode()).hexdigest(),
            }
        ).encode()
        _post_callback(w, body)
        await _answer(reader, t)


# The pair an attacker captured from one genuine callback (plain HTTP, a proxy's log): CSS signs
# only t, so it signs any body until t. Fixed when the harness starts.
_CAPTURED_T = int(time.time()) + 600
_CAPTURED_SIGN = hashlib.md5(f"{DEMO_CALLBACK_KEY}{_CAPTURED_T}".encode()).hexdigest()


async def forged_replay(reader: asyncio.StreamReader, w: asyncio.StreamWriter, t: Target) -> None:
    """Replay the captured pair with forged bodies: pushes and interrupts for streams, with the
    current time as their event time (to be the newest word). Refused as replayed (401) once
    the pair is pinned to its own second, and counted."""
    domain, app = DISCOVERY_TARGET
    n = 0
    while not t.stopping:
        n += 1
        body = json.dumps(
            {
                "app": domain,
                "appname": app,
                "stream_id": f"replay-{n % 40}",
                "event_type": n % 2,
                "event_time": int(time.time()),
                "sequence": f"forged-{random.getrandbits(40)}",
                "t": _CAPTURED_T,
                "sign": _CAPTURED_SIGN,
            }
        ).encode()
        _post_callback(w, body)
        await _answer(reader, t)


async def hold_silent(reader: asyncio.StreamReader, w: asyncio.StreamWriter, t: Target) -> None:
    while not t.stopping and not await _until_closed(reader, 1.0):
        pass


async def tls_stall(reader: asyncio.StreamReader, w: asyncio.StreamWriter, t: Target) -> None:
    w.write(b"\x16\x03\x01")  # the start of a TLS record, and then nothing
    while not t.stopping and not await _until_closed(reader, 1.0):
        pass


async def wrong_password(reader: asyncio.StreamReader, w: asyncio.StreamWriter, t: Target) -> None:
    while not t.stopping:
        token = base64.b64encode(f"{USER}:guess-{random.getrandbits(40)}".encode()).decode()
        w.write(
            f"GET /metrics HTTP/1.1\r\nHost: x\r\nAuthorization: Basic {token}\r\n\r\n".encode()
        )
        await _answer(reader, t)


@dataclass(frozen=True)
class Attack:
    name: str
    behaviour: Behaviour
    tls_server: bool = False  # against the TLS + basic auth exporter
    speak_tls: bool = False  # the attacker completes TLS handshakes
    small_rcvbuf: bool = False


ATTACKS = [
    Attack("slowloris", slowloris),
    Attack("idle_keepalive", idle),
    Attack("never_reading", never_read, small_rcvbuf=True),
    Attack("slow_body", slow_body),
    Attack("oversized_headers", big_headers),
    Attack("smuggling", smuggle),
    Attack("callback_flood", callback_flood),
    Attack("forged_replay", forged_replay),
    Attack("fd_exhaustion", hold_silent),
    Attack("tls_handshake_stall", tls_stall, tls_server=True),
    Attack("wrong_password_tls", wrong_password, tls_server=True, speak_tls=True),
]


async def _worker(attack: Attack, target: Target, client_tls: ssl.SSLContext | None) -> None:
    loop = asyncio.get_running_loop()
    while not target.stopping:
        writer: asyncio.StreamWriter | None = None
        try:
            sock = socket.socket()
            sock.setblocking(False)
            if attack.small_rcvbuf:
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
            try:
                await asyncio.wait_for(loop.sock_connect(sock, (HOST, target.port)), 10)
            except BaseException:
                sock.close()
                raise
            reader, opened = await asyncio.wait_for(
                asyncio.open_connection(
                    sock=sock,
                    ssl=client_tls if attack.speak_tls else None,
                    server_hostname="localhost" if attack.speak_tls else None,
                ),
                10,
            )
            writer = opened
            target.seen.opened += 1
            await attack.behaviour(reader, opened, target)
        except (TimeoutError, OSError, asyncio.IncompleteReadError, ValueError):
            if writer is None:
                target.seen.failed_connects += 1
                await asyncio.sleep(0.2)
        finally:
            if writer is not None:
                writer.transport.abort()
        await asyncio.sleep(0.01)


async def _run_attack(
    attack: Attack, target: Target, connections: int, duration: float, tls: ssl.SSLContext | None
) -> None:
    workers = []
    for _ in range(connections):
        workers.append(asyncio.create_task(_worker(attack, target, tls)))
        await asyncio.sleep(0)  # let them start in a stream, not all in one tick
    await asyncio.sleep(duration)
    target.stopping = True
    while workers:
        for task in workers:
            task.cancel()
        _, pending = await asyncio.wait(workers, timeout=2)
        workers = list(pending)


# -- running and reporting ------------------------------------------------------------------------


@dataclass
class Result:
    attack: str
    scrapes: list[Scrape]
    samples: list[tuple[float, int, int, int, float]]
    baseline: tuple[int, int, int, float]
    recovery: float | None
    alive: bool
    seen: Seen
    wall: float

    def ok_ratio(self) -> float:
        return sum(s.status == 200 for s in self.scrapes) / max(1, len(self.scrapes))

    def latencies(self) -> list[float]:
        return sorted(s.latency for s in self.scrapes)

    def p(self, q: float) -> float:
        lat = self.latencies()
        if not lat:
            return float("nan")
        return lat[min(len(lat) - 1, int(q * len(lat)))]


def _mb(n: float) -> str:
    return f"{n / 1e6:.0f}"


def _tls_files(directory: Path) -> tuple[Path, ssl.SSLContext]:
    from tests.test_web_tls import make_pki

    pki = make_pki(directory / "pki")
    hashed = bcrypt.hashpw(PASSWORD.encode(), bcrypt.gensalt(10)).decode()
    web = directory / "web.yml"
    web.write_text(
        "tls_server_config:\n"
        f"  cert_file: {pki.server.cert}\n  key_file: {pki.server.key}\n"
        f"basic_auth_users:\n  {USER}: {hashed}\n"
    )
    ctx = ssl.create_default_context(cafile=str(pki.ca.cert))
    return web, ctx


def run_one(
    attack: Attack,
    exporter: Exporter,
    scraper: Scraper,
    sampler: Sampler,
    args: argparse.Namespace,
    tls: ssl.SSLContext | None,
) -> Result:
    # Baseline: the exporter at rest, just before.
    time.sleep(min(2.0, args.interval * 2))
    rest = sampler.samples[-5:] or [(0.0, *exporter.sample())]
    baseline = (
        min(s[1] for s in rest),
        min(s[2] for s in rest),
        max(s[3] for s in rest),
        rest[-1][4],
    )
    held_at_rest = exporter.web_connections()  # the scraper's keep-alive connection
    target = Target(exporter.port, tls, Seen(), args.pace)
    start = time.monotonic()
    asyncio.run(_run_attack(attack, target, args.connections, args.duration, tls))
    end = time.monotonic()
    # Recovery: the web port back to the connections it held at rest and a good scrape since.
    # The spare: the scraper may be between a closed connection and its next one either time.
    recovery = None
    deadline = end + IDLE_TIMEOUT
    while time.monotonic() < deadline and exporter.alive():
        good = [s for s in scraper.scrapes if s.at >= end and s.status == 200]
        if exporter.web_connections() <= held_at_rest + 1 and good:
            recovery = max(time.monotonic(), good[0].at + good[0].latency) - end
            break
        time.sleep(0.05)
    return Result(
        attack.name,
        scraper.between(start, end),
        sampler.between(start, end),
        baseline,
        recovery,
        exporter.alive(),
        target.seen,
        end - start,
    )


def report(results: list[Result], args: argparse.Namespace) -> bool:
    print(
        f"\n{'attack':<22} {'scrapes 200':>11} {'p50 ms':>7} {'p99 ms':>7} {'max ms':>7}"
        f" {'threads':>8} {'RSS MB':>7} {'fds':>5} {'CPU s':>6} {'recov s':>8} {'alive':>5}"
        "  attackers"
    )
    passed = True
    for r in results:
        slow = sorted(r.scrapes, key=lambda s: -s.latency)[:3]
        slow += [s for s in r.scrapes if s.status != 200 and s not in slow]
        for s in slow:
            if s.latency >= 1.0 or s.status != 200:
                print(f"    {r.attack}: scrape {s.status} in {s.latency:.2f} s {s.error}")
        ok = sum(s.status == 200 for s in r.scrapes)
        threads = max((s[1] for s in r.samples), default=0)
        rss = max((s[2] for s in r.samples), default=0)
        fds = max((s[3] for s in r.samples), default=0)
        cpu = (r.samples[-1][4] - r.samples[0][4]) if len(r.samples) > 1 else 0.0
        recov = f"{r.recovery:.2f}" if r.recovery is not None else "never"
        statuses = ",".join(f"{k}:{v}" for k, v in sorted(r.seen.statuses.items()))
        failed = collections.Counter(s.status for s in r.scrapes if s.status != 200)
        if failed:
            statuses += "; FAILED scrapes " + ",".join(f"{k}:{v}" for k, v in failed.items())
        print(
            f"{r.attack:<22} {ok:>5}/{len(r.scrapes):<5} {r.p(0.5) * 1000:>7.1f}"
            f" {r.p(0.99) * 1000:>7.1f} {max(r.latencies(), default=0) * 1000:>7.1f}"
            f" {r.baseline[0]:>3}->{threads:<4} {_mb(rss):>7} {fds:>5} {cpu:>6.1f} {recov:>8}"
            f" {'yes' if r.alive else 'NO':>5}  {r.seen.opened} conns"
            + (f", answers {statuses}" if statuses else "")
        )
        bad = r.ok_ratio() < 1.0 or not r.scrapes or not r.alive or r.recovery is None
        if not args.short and r.p(0.99) >= 1.0:
            bad = True
        passed = passed and not bad
    return passed


# Runs the exporter's own entry point, then prints the process's peak RSS (VmHWM, which starts
# at exec) as the last line of stderr. getrusage's and wait4's ru_maxrss would not do: Linux
# carries the forking parent's peak (the harness's, 130 MB) across exec into the child's.
_PEAK_WRAPPER = (
    "import atexit, runpy, sys\n"
    "def peak():\n"
    "    status = open('/proc/self/status').read()\n"
    "    print('VmHWM', status.split('VmHWM:')[1].split()[0], file=sys.stderr)\n"
    "atexit.register(peak)\n"
    "sys.argv = ['exporter', *sys.argv[1:]]\n"
    "runpy.run_module('exporter', run_name='__main__')\n"
)


def _check_config(path: Path) -> tuple[int, str, int]:
    """(exit status, stderr, peak RSS bytes) of ``--config.check`` on ``path``."""
    done = subprocess.run(
        [sys.executable, "-c", _PEAK_WRAPPER, "--config.check", "--config.file", str(path)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    lines = done.stderr.strip().splitlines()
    peak = 0
    if lines and lines[-1].startswith("VmHWM "):
        peak = int(lines.pop().split()[1]) * 1024
    return done.returncode, "\n".join(lines), peak


def config_bombs(depths: tuple[int, ...] = (5, 7, 9)) -> bool:
    """YAML alias bombs ("billion laughs") at --config.check: refused fast, in little memory."""
    print("\nconfig bombs (--config.check on a file of nested YAML aliases):")
    ok = True
    with tempfile.TemporaryDirectory() as tmp:
        for depth in depths:
            lines = ['a0: &a0 ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]']
            for i in range(1, depth + 1):
                refs = ", ".join([f"*a{i - 1}"] * 9)
                lines.append(f"a{i}: &a{i} [{refs}]")
            path = Path(tmp) / f"bomb-{depth}.yaml"
            path.write_text("\n".join(lines) + "\n")
            started = time.monotonic()
            code, stderr, peak = _check_config(path)
            seconds = time.monotonic() - started
            first = (stderr.strip().splitlines() or ["(no message)"])[0]
            fast = code == 1 and seconds < 5 and peak < 100 * 1024 * 1024
            ok = ok and fast
            print(
                f"  depth {depth} ({9**depth:,} nodes once expanded): exit {code} in"
                f" {seconds:.2f} s (the interpreter's start included), peak RSS"
                f" {_mb(peak)} MB: {first[:120]}"
            )
    return ok


def main(argv: list[str] | None = None) -> int:
    # SIGTERM ends the run through the finally blocks, which stop the exporters.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--short", action="store_true", help="CI: few connections, 3 s each")
    parser.add_argument("--connections", type=int, default=None)
    parser.add_argument("--duration", type=float, default=None, help="seconds per attack")
    parser.add_argument("--interval", type=float, default=None, help="seconds between scrapes")
    parser.add_argument("--pace", type=float, default=None, help="seconds between slow bytes")
    parser.add_argument("--nofile", type=int, default=1024, help="the exporter's file limit")
    parser.add_argument("--only", default="", help="comma-separated attack names")
    parser.add_argument("--exporter-arg", action="append", default=[], help="passed through")
    args = parser.parse_args(argv)
    args.connections = args.connections or (200 if args.short else 2000)
    args.duration = args.duration or (3.0 if args.short else 30.0)
    args.interval = args.interval or (0.25 if args.short else 1.0)
    args.pace = args.pace or (1.0 if args.short else 5.0)
    chosen = [a for a in ATTACKS if not args.only or a.name in args.only.split(",")]
    # This process holds the attacking connections: it needs more than the exporter may have.
    _soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    if hard < args.connections + 100:
        print(f"open files limit {hard} is too low for {args.connections} connections")
        return 2
    print(
        f"{len(chosen)} attacks, {args.connections} connections for {args.duration:g} s each,"
        f" a scrape every {args.interval:g} s, exporter open files limit {args.nofile}"
    )
    results = []
    with tempfile.TemporaryDirectory() as tmp:
        web_config, tls = _tls_files(Path(tmp))
        for tls_server in (False, True):
            group = [a for a in chosen if a.tls_server == tls_server]
            if not group:
                continue
            extra = ["--web.enable-lifecycle", *args.exporter_arg]
            exporter = Exporter(args.nofile, web_config if tls_server else None, extra)
            scraper = Scraper(exporter.port, args.interval, tls if tls_server else None, tls_server)
            sampler = Sampler(exporter)
            sampler.start()
            scraper.start()
            try:
                for attack in group:
                    print(f"  {attack.name} ...", flush=True)
                    result = run_one(
                        attack, exporter, scraper, sampler, args, tls if tls_server else None
                    )
                    results.append(result)
                    print(
                        f"    {sum(s.status == 200 for s in result.scrapes)}/"
                        f"{len(result.scrapes)} scrapes 200, p99 {result.p(0.99) * 1000:.0f} ms,"
                        f" recovery {result.recovery}",
                        flush=True,
                    )
                    if not exporter.alive():
                        break
            finally:
                scraper.stop()
                sampler.stopped.set()
                exporter.stop()
                tail = [line for line in exporter.log if "level=error" in line][-5:]
                exporter.close()
            for line in tail:
                print(f"  exporter error: {line}")
    passed = report(results, args)
    if not args.only or "config_bombs" in args.only.split(","):
        passed = config_bombs() and passed
    median_base = statistics.median([r.baseline[0] for r in results]) if results else 0
    print(
        f"\nthreads at rest: {median_base:.0f}; the web server's own: 1 event loop + up to"
        " 4 per request kind (scrape, page, callback) + 1 lifecycle + 1 bcrypt"
    )
    print("PASS" if passed else "FAIL")
    return 0 if passed else 1


if __name__ == "__main__":
    sys.exit(main())
