"""Chaos soak harness shared by ``benchmarks/soak.py`` and ``tests/test_soak.py``.

The exporter runs as a real process (``python -m exporter``) against the simulator, which runs in
this process with a world whose streams change only when the harness says so. While it runs:

- every API action fails at random (timeouts, HTTP 5xx, malformed JSON, wrong Content-Type), and
  a 30 s ``RequestLimitExceeded`` storm and a 30 s ``AuthFailure`` window come at set times;
- a few streams change state every few seconds: the only changes /metrics may show;
- 20 clients scrape ``/metrics`` back to back (half with ``Accept-Encoding: gzip``), timing every
  answer; one of them (the state tracker) reads every stream's state from each answer;
- the config is rewritten (a target label value) and ``POST /-/reload`` sent every 30 s;
- ``/proc/PID/status`` and ``/proc/PID/stat`` are sampled for VmRSS, Threads and CPU time.

Then faults are switched off, calls in flight settle, and what the simulator injected is compared
with what the exporter counted. ``SoakResult.failures()`` lists every missed target;
``SoakResult.report()`` prints every figure.

Phases, on one monotonic clock: start-up (no faults, only the tracker scrapes, until every stream
shows its initial state: the tracker's first check against the truth), warm-up (faults, changes,
reloads, all clients; no windows; the RSS and thread baselines come from it), the run
(``duration`` seconds, both windows), drain (clients stopped, faults off, counts settle).

Three processes besides the exporter: this one (simulator, schedule, checks), the load clients
and the state tracker. A Python process doing heavy parsing delays its other threads, so the
tracker's parsing of 15 MB answers must neither hold up the simulator (its answers would arrive
late and the exporter would count timeouts nobody injected) nor the clients (their latencies
would be the harness's, not the exporter's). The two scraping processes run at a lower
priority (nice 10) so that on a small machine they do not take the CPU the exporter needs.
"""

from __future__ import annotations

import http.client
import json
import math
import os
import random
import re
import statistics
import subprocess
import sys
import threading
import time
import traceback
import zlib
from collections.abc import Callable
from dataclasses import astuple, dataclass, field
from pathlib import Path
from typing import Any

import yaml

from exporter.cssapi import ACTIONS, FORBID_LIST, ONLINE_LIST, PUSH_INFO_LIST
from exporter.simulator import Scenario, Simulator, StreamSpec, World
from tests.e2e import SECRET_ID, SECRET_KEY, ExporterProcess

REPO = Path(__file__).resolve().parent.parent
ACCOUNT = "soak"
APP = "live"
BIG_DOMAIN = "soak-big.example.com"  # `mode: auto`, which picks online_list
SMALL_DOMAIN = "soak-state.example.com"  # `mode: state`
ACTIVE, INACTIVE, FORBID, UNKNOWN = "active", "inactive", "forbid", "unknown"
WORKERS = 16
CHILD_NICE = 10  # the scraping processes' niceness

# What the simulator counts a fault as (its counters' "outcome") -> the code the exporter must
# count it under (exporter/client.py error_from_exception). Window codes and every other error
# code the simulator answers are counted under themselves.
FAULT_CODES: dict[str, str] = {
    "timeout": "Timeout",  # held past the exporter's timeout: requests' ReadTimeout
    "http_5xx": "HTTPError",  # the SDK's ServerNetworkError
    "malformed_json": "BadResponse",  # JSONDecodeError
    "truncated_json": "BadResponse",
    # An error body served as text/html: the SDK skips its error check, parse_response finds
    # the Error object in it, so it counts under the code in the body.
    "wrong_content_type": "InternalError",
}
# Simulator outcomes that are not errors for the exporter.
NOT_ERRORS = frozenset({"ok", "FailedOperation.HasNotLivingStream"})

STATE_LINE = re.compile(
    r'^tencent_live_stream_state\{account="[^"]*",domain="([^"]*)",app="[^"]*",'
    r'stream="([^"]*)",[^\n]*state="(\w+)"\} 1$',
    re.MULTILINE,
)
RELOAD_LINE = re.compile(r"^tencent_live_exporter_config_last_reload_successful (\S+)$", re.M)
API_LINE = re.compile(r"^(tencent_live_api_(?:requests|errors)_total)\{([^}]*)\} (\S+)$", re.M)
LABEL = re.compile(r'(\w+)="((?:[^"\\]|\\.)*)"')

StreamId = tuple[str, str]  # (domain, stream)


@dataclass(frozen=True)
class SoakSettings:
    streams: int = 10_000  # the big target (mode auto -> online_list)
    state_streams: int = 50  # the small target (mode state)
    duration: float = 600.0
    # Long enough for two reloads: RSS climbs for a while before it levels off (allocator high
    # water under 20 concurrent scrapes), which is no leak.
    warmup: float = 60.0
    clients: int = 20  # scrape clients, the state tracker included
    reload_every: float = 30.0
    change_every: float = 2.0  # each step changes one stream of each target
    change_gap: float = 60.0  # a stream changes at most once in this long
    window: float = 30.0  # each of the two windows
    # Not 1 s: on a busy 2-CPU machine a simulator answer now and then takes most of a second,
    # and the exporter would rightly count a Timeout that nobody injected.
    account_timeout: float = 2.0
    # The simulator's timeout holds the connection, then closes it without an answer: a hold
    # shorter than the exporter's timeout is a ConnectionError, a longer one a Timeout.
    timeout_hold: float = 2.5
    timeout_rate: float = 0.05
    http_5xx_rate: float = 0.03
    malformed_json_rate: float = 0.02
    wrong_content_type_rate: float = 0.01
    # The benchmark's targets (SoakResult.target_failures), figures of the machine as much as
    # of the exporter: every answer within latency_limit, RSS growth over the run under
    # rss_growth_limit.
    latency_limit: float = 1.0
    rss_growth_limit: float = 0.10
    # The invariants' bounds (SoakResult.invariant_failures), which hold on any machine: a scrape
    # with no answer in scrape_timeout is unanswered (Prometheus' default scrape_timeout); peak
    # RSS stays under rss_factor times the warm-up's (a leak under chaos grows without bound).
    scrape_timeout: float = 10.0
    rss_factor: float = 2.0
    # Each client's answers: at least this fraction of the median client's. A fair server gives
    # every back-to-back client about the same share; a starved one gets next to none.
    fair_share: float = 0.1
    # Every load client checks each check_every-th body in full (decompressed, complete).
    check_every: int = 10
    # The big target's online-list rounds: None is the advised pace (a minute); a test sets 10 s
    # so that a short run sees many rounds, and their pages meet the faults.
    round_interval: float | None = None
    # Threads: 16 poll workers, one handler per scrape connection (20 keep-alive), the
    # scheduler and its executor, render, web server, main. A reload stops the old workers
    # before it starts new ones (a dip, never a peak); the margin covers a short-lived handler
    # (the reload's own POST) or executor thread caught in a sample.
    thread_margin: int = 2
    startup_timeout: float = 120.0
    drain_timeout: float = 30.0
    # After the drain, until every stream shows its scripted state (faults off, polling on).
    converge_timeout: float = 180.0
    seed: int = 7

    def window_starts(self) -> tuple[float, float]:
        """(storm, auth) start, seconds into the run: both inside it, the spare time spread
        before, between and after (back to back when the run is two windows long)."""
        spare = self.duration - 2 * self.window
        if spare < 0:
            raise ValueError(f"duration must be at least {2 * self.window:.0f}s (two windows)")
        storm = spare / 4
        return storm, storm + self.window + spare / 2


@dataclass(frozen=True)
class Change:
    at: float  # harness monotonic time, taken just before the world changed
    domain: str
    stream: str
    old: str
    new: str


@dataclass
class Transition:
    at: float
    stream: StreamId
    old: str | None
    new: str
    why: str = ""


class Truth:
    """Initial states plus every scripted change: the only states a stream may be reported in."""

    def __init__(self, initial: dict[StreamId, str]) -> None:
        self._lock = threading.Lock()
        self._history: dict[StreamId, list[tuple[float, str]]] = {
            sid: [(-math.inf, state)] for sid, state in initial.items()
        }
        self.changes: list[Change] = []

    def record(self, change: Change) -> None:
        with self._lock:
            self._history[(change.domain, change.stream)].append((change.at, change.new))
            self.changes.append(change)

    def history(self, sid: StreamId) -> list[tuple[float, str]]:
        with self._lock:
            return list(self._history.get(sid, ()))

    def current(self, sid: StreamId) -> str:
        with self._lock:
            return self._history[sid][-1][1]

    def streams(self) -> list[StreamId]:
        return list(self._history)


# -- reading /metrics -----------------------------------------------------------------------


@dataclass
class Summary:
    """What one answer said about the streams, relative to the answer before (tracker process)."""

    at: float  # when the answer had been read (monotonic)
    changes: list[tuple[str, str, str]]  # (domain, stream, state)
    missing: list[str]  # streams seen before and absent now
    duplicates: int  # streams with two state series
    reload_ok: bool  # config_last_reload_successful is 1


class StateParser:
    """Stream states out of exposition text, reported as changes."""

    def __init__(self) -> None:
        self.last: dict[StreamId, str] = {}

    def summarize(self, text: str, at: float) -> Summary:
        gauge = RELOAD_LINE.search(text)
        seen: dict[StreamId, str] = {}
        duplicates = 0
        for m in STATE_LINE.finditer(text):
            sid = (m.group(1), m.group(2))
            if sid in seen:
                duplicates += 1
            seen[sid] = m.group(3)
        last = self.last
        changes = [(d, s, st) for (d, s), st in seen.items() if last.get((d, s)) != st]
        missing = [f"{d}/{s}" for (d, s) in last if (d, s) not in seen]
        last.update(seen)
        ok = gauge is not None and float(gauge.group(1)) == 1.0
        return Summary(at, changes, missing, duplicates, ok)


class Tracker:
    """Every stream's reported state over time, each change checked against the truth.

    A stream's reported states must be a subsequence of its true ones: a change to N seen in an
    answer read at t must match a scripted change to N made before t and after the change the
    previous report matched. The first known state may match the initial state or any change
    made by then. Nothing may go ``unknown`` once known: no scripted change does that.
    """

    def __init__(self, truth: Truth) -> None:
        self.truth = truth
        self.expected = set(truth.streams())
        self.reported: dict[StreamId, str] = {}
        self.matched: dict[StreamId, int] = {}
        self.detected: dict[tuple[StreamId, int], float] = {}  # (stream, change) -> delay
        self.false: list[Transition] = []
        self.transitions = 0
        self.scrapes = 0
        self.missing = 0  # stream-answers where a stream seen before had no state series
        self.unexpected = 0  # streams that are not configured
        self.duplicates = 0  # stream-answers where a stream showed two states
        self.reload_gauge_bad = 0  # answers where config_last_reload_successful was not 1
        self.first_missing: list[str] = []
        self._lock = threading.Lock()

    def all_known(self) -> bool:
        with self._lock:
            reported = self.reported
            return all(reported.get(sid, UNKNOWN) != UNKNOWN for sid in self.expected)

    def apply(self, summary: Summary) -> None:
        with self._lock:
            self.scrapes += 1
            self.reload_gauge_bad += not summary.reload_ok
            self.duplicates += summary.duplicates
            self.missing += len(summary.missing)
            room = 5 - len(self.first_missing)
            if room > 0:
                self.first_missing += summary.missing[:room]
            for domain, stream, new in summary.changes:
                sid = (domain, stream)
                if sid not in self.expected:
                    self.unexpected += 1
                    continue
                old = self.reported.get(sid)
                self.reported[sid] = new
                self._check(sid, old, new, summary.at)

    def _check(self, sid: StreamId, old: str | None, new: str, at: float) -> None:
        self.transitions += 1
        start = self.matched.get(sid)
        if new == UNKNOWN:
            if old is not None:
                self.false.append(Transition(at, sid, old, new, "nothing scripted that"))
            return
        history = self.truth.history(sid)
        # After a known state the report must match a later change; back from a (false)
        # unknown, the state it had before is no change at all.
        first = 0 if start is None else start + (0 if old == UNKNOWN else 1)
        for k in range(first, len(history)):
            when, state = history[k]
            if when > at:
                break
            if state == new:
                self.matched[sid] = k
                if k > 0 and (sid, k) not in self.detected:
                    self.detected[(sid, k)] = at - when
                return
        truth = " -> ".join(s for _, s in history)
        self.false.append(Transition(at, sid, old, new, f"scripted: {truth}"))


def parse_api_counters(text: str) -> tuple[dict[str, float], dict[tuple[str, str], float]]:
    """``tencent_live_api_requests_total`` by action, ``..._errors_total`` by (action, code)."""
    requests: dict[str, float] = {}
    errors: dict[tuple[str, str], float] = {}
    for m in API_LINE.finditer(text):
        labels = dict(LABEL.findall(m.group(2)))
        if labels.get("account") != ACCOUNT:
            continue
        value = float(m.group(3))
        if m.group(1) == "tencent_live_api_requests_total":
            requests[labels["action"]] = requests.get(labels["action"], 0.0) + value
        else:
            key = (labels["action"], labels["code"])
            errors[key] = errors.get(key, 0.0) + value
    return requests, errors


def expected_errors(sim_counts: dict[str, dict[str, int]]) -> dict[tuple[str, str], int]:
    """What the exporter must have counted, by (action, code), for what the simulator served."""
    out: dict[tuple[str, str], int] = {}
    for action, outcomes in sim_counts.items():
        for outcome, count in outcomes.items():
            if outcome in NOT_ERRORS:
                continue
            key = (action, FAULT_CODES.get(outcome, outcome))
            out[key] = out.get(key, 0) + count
    return out


def gunzip(data: bytes) -> bytes:
    """Every member of a multi-member gzip stream (the exposition is one member per block)."""
    out: list[bytes] = []
    view = memoryview(data)
    pos = 0
    while pos < len(data):
        d = zlib.decompressobj(wbits=31)
        out.append(d.decompress(view[pos:]))
        if not d.eof:
            raise ValueError("truncated gzip member")
        pos = len(data) - len(d.unused_data)
    return b"".join(out)


# -- scraping ---------------------------------------------------------------------------------


@dataclass
class Scrape:
    start: float  # monotonic
    latency: float
    status: int  # 0: no answer (error says why)
    compressed: bool
    size: int
    error: str = ""
    headers: float = 0.0  # seconds until the status line and headers were read
    client: str = ""  # which client: "tracker" or "load-N"


# The last family of every exposition: an answer without it was cut short.
LAST_LINE = b"\ntencent_live_exporter_config_last_reload_successful "


def body_problem(body: bytes, compressed: bool, encoding: str) -> tuple[str, bytes]:
    """(what is wrong with a 200's body, or "", the body decompressed)."""
    if compressed != (encoding == "gzip"):
        return f"asked for gzip: {compressed}, Content-Encoding: {encoding!r}", body
    if compressed:
        try:
            body = gunzip(body)
        except (zlib.error, ValueError) as exc:
            return f"gzip answer does not decompress: {exc}", body
    if not body.endswith(b"\n") or LAST_LINE not in body:
        return f"incomplete exposition ({len(body)} bytes)", body
    return "", body


class ScrapeClient(threading.Thread):
    """Scrapes /metrics back to back over one keep-alive connection (reopened after an error).

    ``gzip_every`` > 0: every that many-th scrape asks for gzip (else ``compressed`` decides).
    ``on_answer`` gets every scrape, with the (decompressed) body of 200s when ``with_body``.
    Bodies are checked (decompressed, complete) when ``with_body`` and every ``check_every``-th
    scrape otherwise: a load client that decompressed all its answers would take the CPU the
    exporter needs.
    """

    def __init__(
        self,
        port: int,
        name: str,
        compressed: bool,
        stop: threading.Event,
        on_answer: Callable[[Scrape, bytes | None], None],
        timeout: float,
        gzip_every: int = 0,
        with_body: bool = False,
        check_every: int = 0,
    ) -> None:
        super().__init__(name=f"scrape-{name}", daemon=True)
        self.port = port
        self.client = name
        self.compressed = compressed
        self.stop_event = stop
        self.on_answer = on_answer
        self.timeout = timeout
        self.gzip_every = gzip_every
        self.with_body = with_body
        self.check_every = check_every

    def run(self) -> None:
        conn: http.client.HTTPConnection | None = None
        n = 0
        while not self.stop_event.is_set():
            n += 1
            compressed = n % self.gzip_every == 0 if self.gzip_every else self.compressed
            headers = {"Accept-Encoding": "gzip"} if compressed else {}
            if conn is None:
                conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=self.timeout)
            start = time.monotonic()
            try:
                conn.request("GET", "/metrics", headers=headers)
                resp = conn.getresponse()
                headers_at = time.monotonic() - start
                body = resp.read()
                latency = time.monotonic() - start
                encoding = resp.getheader("Content-Encoding", "")
            except (OSError, http.client.HTTPException) as exc:
                latency = time.monotonic() - start
                error = f"{type(exc).__name__}: {exc}"
                record = Scrape(start, latency, 0, compressed, 0, error, 0.0, self.client)
                self.on_answer(record, None)
                conn.close()
                conn = None
                continue
            record = Scrape(
                start, latency, resp.status, compressed, len(body), "", headers_at, self.client
            )
            check = self.with_body or (self.check_every > 0 and n % self.check_every == 0)
            if resp.status != 200 or not check:
                self.on_answer(record, None)
                continue
            record.error, body = body_problem(body, compressed, encoding)
            self.on_answer(record, body if self.with_body and not record.error else None)
        if conn is not None:
            conn.close()


def _child_main(argv: list[str]) -> int:
    """``python -m tests.soak tracker PORT TIMEOUT`` or ``... clients PORT TIMEOUT N
    CHECK_EVERY``: scrape until stdin closes, one JSON line per answer on stdout (the tracker's
    with a Summary)."""
    role, port, timeout = argv[0], int(argv[1]), float(argv[2])
    # The load generator must not take the CPU the exporter needs: on a small machine the
    # exporter's scrape latency would be the scrapers' doing (1.1 s instead of 0.35 s at the
    # tail on 2 CPUs with 1,000 streams). The simulator keeps its normal priority.
    os.nice(CHILD_NICE)
    stop = threading.Event()
    lock = threading.Lock()
    parser = StateParser()

    def emit(record: Scrape, body: bytes | None) -> None:
        line: dict[str, Any] = {"scrape": astuple(record)}
        if body is not None:
            line["summary"] = astuple(parser.summarize(body.decode(), time.monotonic()))
        text = json.dumps(line)
        with lock:
            sys.stdout.write(text + "\n")
            sys.stdout.flush()

    if role == "tracker":
        # Plain text, but every fifth answer gzip: both encodings must carry the same states.
        clients = [
            ScrapeClient(port, "tracker", False, stop, emit, timeout, gzip_every=5, with_body=True)
        ]
    else:
        count, check_every = int(argv[3]), int(argv[4])
        clients = [
            ScrapeClient(
                port, f"load-{i}", i % 2 == 0, stop, emit, timeout, check_every=check_every
            )
            for i in range(count)
        ]
    for client in clients:
        client.start()
    sys.stdin.read()  # until the harness closes it
    stop.set()
    for client in clients:
        client.join(timeout + 5)  # the scrape in flight, answered or timed out
    return 0


class ChildProcess:
    """A scraping process (load clients or the state tracker), seen from the harness."""

    def __init__(self, args: list[str], on_line: Callable[[dict[str, Any]], None]) -> None:
        self.on_line = on_line
        self.errors: list[str] = []
        env = {**os.environ, "PYTHONPATH": str(REPO)}
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "tests.soak", *args],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            cwd=REPO,
            env=env,
        )
        self._threads = [
            threading.Thread(target=self._read, daemon=True),
            threading.Thread(target=self._read_errors, daemon=True),
        ]
        for thread in self._threads:
            thread.start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.on_line(json.loads(line))

    def _read_errors(self) -> None:
        assert self.proc.stderr is not None
        for line in self.proc.stderr:
            self.errors.append(line.rstrip("\n"))

    def stop(self, grace: float) -> None:
        """Close its stdin and wait ``grace`` seconds for its scrapes in flight to end."""
        if self.proc.stdin is not None and not self.proc.stdin.closed:
            self.proc.stdin.close()
        try:
            self.proc.wait(grace)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        for thread in self._threads:
            thread.join(10)


# -- the exporter process -------------------------------------------------------------------


def proc_sample(pid: int) -> tuple[int, int, float] | None:
    """(VmRSS bytes, Threads, CPU seconds) of a process, or None once it is gone."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    rss = threads = -1
    for line in status.splitlines():
        if line.startswith("VmRSS:"):
            rss = int(line.split()[1]) * 1024
        elif line.startswith("Threads:"):
            threads = int(line.split()[1])
    fields = stat.rsplit(")", 1)[1].split()  # after "pid (comm)"
    cpu = (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")  # utime + stime
    return (rss, threads, cpu) if rss >= 0 and threads >= 0 else None


class Monitor(threading.Thread):
    """Samples the exporter's VmRSS, thread count and CPU time."""

    def __init__(self, pid: int, stop: threading.Event, every: float = 0.5) -> None:
        super().__init__(name="monitor", daemon=True)
        self.pid = pid
        self.stop_event = stop
        self.every = every
        self.samples: list[tuple[float, int, int, float]] = []  # (monotonic, rss, threads, cpu)

    def run(self) -> None:
        while True:
            sample = proc_sample(self.pid)
            if sample is None:
                return
            self.samples.append((time.monotonic(), *sample))
            if self.stop_event.wait(self.every):
                return

    def between(self, t0: float, t1: float) -> list[tuple[float, int, int, float]]:
        return [s for s in self.samples if t0 <= s[0] <= t1]


# -- results --------------------------------------------------------------------------------


@dataclass
class Reload:
    at: float
    status: int
    latency: float
    body: str


def percentile(values: list[float], q: float) -> float:
    if not values:
        return math.nan
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, math.ceil(q * len(ordered)) - 1))]


def mb(n: float) -> str:
    return f"{n / 1e6:.1f} MB"


@dataclass
class SoakResult:
    settings: SoakSettings
    wall_seconds: float = 0.0
    phases: dict[str, float] = field(default_factory=dict)  # name -> harness monotonic time
    windows: list[tuple[str, float, float]] = field(default_factory=list)  # (code, start, end)
    scrapes: list[Scrape] = field(default_factory=list)  # every client's, start-up included
    tracker_scrapes: list[Scrape] = field(default_factory=list)  # the tracker's
    tracker: Tracker | None = None
    changes: list[Change] = field(default_factory=list)
    reloads: list[Reload] = field(default_factory=list)
    sim_counts: dict[str, dict[str, int]] = field(default_factory=dict)
    exp_requests: dict[str, float] = field(default_factory=dict)
    exp_errors: dict[tuple[str, str], float] = field(default_factory=dict)
    counts_settled: bool = False
    rss_start: int = 0
    rss_end: int = 0
    rss_max: int = 0
    threads_base: int = 0
    threads_end: int = 0
    threads_min: int = 0
    threads_max: int = 0
    cpu_percent: float = math.nan  # exporter, over warm-up and run
    alive_at_end: bool = False
    exit_code: int | None = None
    tracebacks: int = 0
    error_lines: list[str] = field(default_factory=list)
    child_errors: list[str] = field(default_factory=list)
    converged: bool = False  # every stream showed its scripted state after the drain
    converge_seconds: float = math.nan
    unconverged: list[str] = field(default_factory=list)  # the last mismatches seen, a few
    aborted: str = ""
    abort_trace: str = ""

    # -- derived figures -------------------------------------------------------------------

    def unanswered(self) -> list[Scrape]:
        """Scrapes without a complete 200 within the scrape timeout: never right, however busy
        the machine."""
        limit = self.settings.scrape_timeout
        return [s for s in self.scrapes if s.status != 200 or s.error or s.latency > limit]

    def slow(self) -> list[Scrape]:
        """Answered, but later than the benchmark's latency target."""
        limit = self.settings.latency_limit
        return [s for s in self.scrapes if s.status == 200 and not s.error and s.latency > limit]

    def failed_scrapes(self) -> list[Scrape]:
        """Unanswered or slow: what the benchmark's "every scrape within 1 s" counts."""
        return sorted(self.unanswered() + self.slow(), key=lambda x: x.start)

    def answers_by_client(self) -> dict[str, int]:
        """Complete 200s by load client (the tracker, which parses every answer, aside)."""
        out: dict[str, int] = {}
        for x in self.scrapes:
            if x.client.startswith("load-"):
                out.setdefault(x.client, 0)
                out[x.client] += x.status == 200 and not x.error
        return dict(sorted(out.items()))

    def starved(self) -> dict[str, int]:
        """Load clients that got under ``fair_share`` of the median client's answers."""
        counts = self.answers_by_client()
        if not counts:
            return {}
        floor = self.settings.fair_share * statistics.median(counts.values())
        return {c: n for c, n in counts.items() if n < floor}

    def fault_rows(self) -> list[tuple[str, str, int, int]]:
        """(action, code, injected, counted) for every code either side saw."""
        expected = expected_errors(self.sim_counts)
        keys = sorted(set(expected) | set(self.exp_errors))
        return [
            (a, c, expected.get((a, c), 0), int(self.exp_errors.get((a, c), 0))) for a, c in keys
        ]

    def request_rows(self) -> list[tuple[str, int, int]]:
        """(action, served by the simulator, counted by the exporter)."""
        actions = sorted(set(self.sim_counts) | set(self.exp_requests))
        return [
            (a, sum(self.sim_counts.get(a, {}).values()), int(self.exp_requests.get(a, 0)))
            for a in actions
        ]

    def injected_by_kind(self) -> dict[str, int]:
        out: dict[str, int] = {}
        for outcomes in self.sim_counts.values():
            for outcome, count in outcomes.items():
                if outcome not in NOT_ERRORS:
                    out[outcome] = out.get(outcome, 0) + count
        return dict(sorted(out.items()))

    def during_reload(self, scrape: Scrape) -> bool:
        """Whether the scrape overlapped a reload (from its POST to the answer)."""
        end = scrape.start + scrape.latency
        return any(r.at <= end and scrape.start <= r.at + r.latency for r in self.reloads)

    def since_reload(self, scrape: Scrape) -> float | None:
        """Seconds from the start of the last reload before the scrape's answer, if any."""
        end = scrape.start + scrape.latency
        starts = [r.at for r in self.reloads if r.at <= end]
        return scrape.start - max(starts) if starts else None

    def rss_growth(self) -> float:
        return (self.rss_end - self.rss_start) / self.rss_start if self.rss_start else math.nan

    def failures(self) -> list[str]:
        """Every missed target: the invariants, then the benchmark's figures."""
        return self.invariant_failures() + self.target_failures()

    def target_failures(self) -> list[str]:
        """The benchmark's targets, which a loaded machine can miss by itself: every scrape
        within ``latency_limit``, RSS growth under ``rss_growth_limit``."""
        s = self.settings
        out: list[str] = []
        slow = self.slow()
        if slow:
            worst = max(slow, key=lambda x: x.latency)
            out.append(
                f"{len(slow)} of {len(self.scrapes)} scrapes answered later than "
                f"{s.latency_limit:g}s (worst {worst.latency:.3f}s, {worst.client})"
            )
        growth = self.rss_growth()
        if not growth < s.rss_growth_limit:
            out.append(
                f"RSS grew {growth:.1%} ({mb(self.rss_start)} -> {mb(self.rss_end)}), "
                f"limit {s.rss_growth_limit:.0%}"
            )
        return out

    def invariant_failures(self) -> list[str]:
        """What must hold on any machine, however loaded: nothing here is a wall-clock figure
        but the scrape timeout (an answer that never comes) and the drain and convergence
        deadlines (minutes)."""
        s = self.settings
        out: list[str] = []
        if self.aborted:
            out.append(f"aborted: {self.aborted}")
        if not self.alive_at_end:
            out.append("the exporter process died")
        if self.exit_code not in (0, None):
            out.append(f"the exporter exited with status {self.exit_code} after SIGTERM")
        if self.tracebacks:
            out.append(f"{self.tracebacks} tracebacks in the exporter's log")
        if self.error_lines:
            out.append(
                f"{len(self.error_lines)} error lines in the exporter's log: "
                f"{self.error_lines[0][:200]}"
            )
        if self.child_errors:
            out.append(f"a scraping process wrote to stderr: {self.child_errors[-1][:200]}")
        if not self.scrapes:
            out.append("no scrapes")
        bad = self.unanswered()
        if bad:
            worst = max(bad, key=lambda x: (x.status != 200, x.latency))
            by_client: dict[str, int] = {}
            for x in bad:
                by_client[x.client] = by_client.get(x.client, 0) + 1
            clients = ", ".join(f"{c}: {n}" for c, n in sorted(by_client.items())[:8])
            out.append(
                f"{len(bad)} of {len(self.scrapes)} scrapes not answered 200 in full within "
                f"{s.scrape_timeout:g}s (by client: {clients}; worst: status {worst.status}, "
                f"{worst.latency:.3f}s {worst.error})".rstrip()
            )
        starved = self.starved()
        if starved:
            counts = self.answers_by_client()
            median = statistics.median(counts.values())
            plain = sorted({x.client for x in self.scrapes if not x.compressed} & set(starved))
            out.append(
                f"{len(starved)} of {len(counts)} load clients starved: under "
                f"{s.fair_share:.0%} of the median client's {median:g} answers "
                f"({', '.join(f'{c}: {n}' for c, n in list(starved.items())[:8])}; "
                f"plain-text clients among them: {len(plain)})"
            )
        t = self.tracker
        if t is not None:
            if t.false:
                sample = "; ".join(
                    f"{x.stream[0]}/{x.stream[1]} {x.old} -> {x.new} ({x.why})" for x in t.false[:5]
                )
                out.append(f"{len(t.false)} false transitions: {sample}")
            if t.missing:
                out.append(
                    f"{t.missing} times a stream had no state series "
                    f"(e.g. {', '.join(t.first_missing)})"
                )
            if t.duplicates:
                out.append(f"{t.duplicates} times a stream showed two state series")
            if t.unexpected:
                out.append(f"{t.unexpected} state changes of streams that are not configured")
            if t.reload_gauge_bad:
                out.append(
                    f"{t.reload_gauge_bad} answers without "
                    "tencent_live_exporter_config_last_reload_successful 1"
                )
            if not t.scrapes:
                out.append("the state tracker read no answer")
            if self.changes and not t.detected:
                out.append("no scripted change was ever seen on /metrics")
        if not self.converged:
            out.append(
                f"streams not in their scripted state {s.converge_timeout:g}s after the drain: "
                f"{'; '.join(self.unconverged[:5]) or 'no answer'}"
            )
        if not self.reloads:
            out.append("no reload happened")
        for r in self.reloads:
            if r.status != 200:
                out.append(f"reload answered {r.status}: {r.body.strip()}")
        for action, code, injected, counted in self.fault_rows():
            if injected != counted:
                out.append(f"{action} {code}: {injected} injected, {counted} counted")
        for action, served, counted in self.request_rows():
            if served != counted:
                out.append(f"{action}: {served} calls served, {counted} counted")
        if not self.counts_settled:
            out.append("the counts did not settle after faults were switched off")
        kinds = self.injected_by_kind()
        for kind in ("timeout", "http_5xx", "malformed_json", "wrong_content_type"):
            if not kinds.get(kind):
                out.append(f"no {kind} fault was injected")
        for code in ("RequestLimitExceeded", "AuthFailure.SignatureFailure"):
            if not kinds.get(code):
                out.append(f"the {code} window rejected no call")
        if not 0 < self.rss_max <= s.rss_factor * self.rss_start:
            out.append(
                f"RSS peaked at {mb(self.rss_max)}, over {s.rss_factor:g}x the warm-up's "
                f"{mb(self.rss_start)}"
            )
        if not 0 < self.threads_end <= self.threads_base + s.thread_margin:
            out.append(
                f"threads not flat: max {self.threads_base} over the warm-up, "
                f"{self.threads_end} at the end (margin {s.thread_margin})"
            )
        return out

    # -- report ----------------------------------------------------------------------------

    def report(self) -> str:
        s = self.settings
        t0 = self.phases.get("run", 0.0)
        lines = [
            f"chaos soak: {s.streams} streams (mode auto -> online_list) + {s.state_streams} "
            f"(mode state), {s.warmup:.0f}s warm-up + {s.duration:.0f}s run, {s.clients} scrape "
            f"clients, reload every {s.reload_every:.0f}s; {os.cpu_count()} CPUs; "
            f"wall {self.wall_seconds:.0f}s",
            f"faults on every action: timeout {s.timeout_rate:.0%} (held {s.timeout_hold:g}s, "
            f"exporter timeout {s.account_timeout:g}s), HTTP 5xx {s.http_5xx_rate:.0%}, "
            f"malformed JSON {s.malformed_json_rate:.0%}, wrong Content-Type "
            f"{s.wrong_content_type_rate:.0%}",
        ]
        for code, start, end in self.windows:
            lines.append(f"window {code}: {start - t0:+.1f}s .. {end - t0:+.1f}s into the run")
        if "warmup" in self.phases and "start" in self.phases:
            lines.append(
                f"start-up (no faults) until every stream showed its state: "
                f"{self.phases['warmup'] - self.phases['start']:.1f}s"
            )
        ok200 = [x for x in self.scrapes if x.status == 200 and not x.error]
        lat = [x.latency for x in ok200]
        plain = [x for x in ok200 if not x.compressed]
        packed = [x for x in ok200 if x.compressed]
        bad = self.failed_scrapes()
        good = len(self.scrapes) - len(bad)
        pct = 100.0 * good / len(self.scrapes) if self.scrapes else 0.0
        lines += [
            "",
            f"scrapes: {len(self.scrapes)} ({len(plain)} plain, {len(packed)} "
            f"gzip), {good} = {pct:.3f}% answered 200 within {s.latency_limit:g}s; "
            f"{sum(1 for x in self.scrapes if x.status != 200)} not 200, "
            f"{sum(1 for x in self.scrapes if x.error and x.status == 200)} bad bodies; "
            f"{len(self.unanswered())} not answered in full within {s.scrape_timeout:g}s",
        ]
        counts = self.answers_by_client()
        plain_clients = {x.client for x in self.scrapes if not x.compressed}
        for kind, answers in (
            ("plain", [n for c, n in counts.items() if c in plain_clients]),
            ("gzip", [n for c, n in counts.items() if c not in plain_clients]),
        ):
            if answers:
                lines.append(
                    f"answers per {kind} load client: min {min(answers)}, median "
                    f"{statistics.median(answers):g}, max {max(answers)} ({len(answers)} clients)"
                )
        if lat:
            lines.append(
                f"scrape latency: p50 {percentile(lat, 0.5) * 1000:.0f} ms, "
                f"p90 {percentile(lat, 0.9) * 1000:.0f} ms, p99 {percentile(lat, 0.99) * 1000:.0f}"
                f" ms, p99.9 {percentile(lat, 0.999) * 1000:.0f} ms, max {max(lat) * 1000:.0f} ms"
            )
        for name, group in (("plain", plain), ("gzip", packed)):
            if group:
                sizes = [x.size for x in group]
                lats = [x.latency for x in group]
                lines.append(
                    f"  {name}: body {mb(statistics.median(sizes))}, p50 "
                    f"{percentile(lats, 0.5) * 1000:.0f} ms, p99 "
                    f"{percentile(lats, 0.99) * 1000:.0f} ms, max {max(lats) * 1000:.0f} ms"
                )
        over = [x for x in ok200 if x.latency > s.latency_limit]
        if over:
            in_reload = [x for x in over if self.during_reload(x)]
            when = ", ".join(
                f"{x.start - t0:+.1f}s ({x.latency:.2f}s, headers {x.headers:.2f}s"
                + (
                    f", {since:.1f}s after a reload began)"
                    if (since := self.since_reload(x)) is not None
                    else ")"
                )
                for x in over[:12]
            )
            lines.append(
                f"  over {s.latency_limit:g}s: {len(over)}, {len(in_reload)} of them while a reload"
                f" was running; started at: {when}"
            )
        warm = self.phases.get("warmup", 0.0)
        early = [x.latency for x in self.scrapes if x.start < warm]
        if early:
            lines.append(
                f"  of which during start-up (the tracker alone): {len(early)}, max "
                f"{max(early) * 1000:.0f} ms"
            )
        t = self.tracker
        if t is not None:
            delays = sorted(t.detected.values())
            lines += [
                "",
                f"state tracker: {t.scrapes} answers read, {len(t.expected)} streams, "
                f"{t.transitions} reported changes (initial states included), "
                f"false transitions: {len(t.false)}",
                f"scripted changes: {len(self.changes)}, seen on /metrics: {len(delays)}"
                + (
                    f" (after: median {statistics.median(delays):.1f}s, max {max(delays):.1f}s)"
                    if delays
                    else ""
                ),
                f"streams missing from an answer: {t.missing}, shown twice: {t.duplicates}, "
                f"answers with the reload gauge != 1: {t.reload_gauge_bad}",
            ]
            for x in t.false[:20]:
                lines.append(
                    f"  FALSE {x.at - t0:+.1f}s {x.stream[0]}/{x.stream[1]}: {x.old} -> {x.new}"
                    f" ({x.why})"
                )
        lines.append(
            f"after the drain every stream in its scripted state: {self.converged}"
            + (
                f" (after {self.converge_seconds:.1f}s)"
                if self.converged
                else f"; {'; '.join(self.unconverged[:6])}"
            )
        )
        lines += ["", "faults injected (simulator outcome: calls):"]
        for kind, count in self.injected_by_kind().items():
            code = FAULT_CODES.get(kind, kind)
            lines.append(f"  {kind}: {count}" + (f" (counted as {code})" if code != kind else ""))
        lines.append("errors by action and code, injected vs counted by the exporter:")
        for action, code, injected, counted in self.fault_rows():
            mark = "ok" if injected == counted else "MISMATCH"
            lines.append(f"  {action} {code}: {injected} vs {counted} {mark}")
        lines.append("calls by action, served by the simulator vs counted by the exporter:")
        for action, served, counted in self.request_rows():
            mark = "ok" if served == counted else "MISMATCH"
            lines.append(f"  {action}: {served} vs {counted} {mark}")
        lines.append(f"counts settled once faults were off: {self.counts_settled}")
        lines += [
            "",
            f"RSS: {mb(self.rss_start)} after the warm-up, {mb(self.rss_end)} at the end, "
            f"growth {self.rss_growth():+.1%} (limit {s.rss_growth_limit:.0%}), "
            f"max {mb(self.rss_max)} (bound {s.rss_factor:g}x the warm-up's)",
            f"threads: max {self.threads_base} over the warm-up, max {self.threads_end} at the "
            f"end of the run (margin {s.thread_margin}); {self.threads_min}..{self.threads_max} "
            "during the run",
            f"exporter CPU: {self.cpu_percent:.0f}% of one core over warm-up and run",
            f"reloads: {len(self.reloads)}, statuses {sorted({r.status for r in self.reloads})}, "
            f"latency max {max((r.latency for r in self.reloads), default=0):.2f}s, median "
            f"{statistics.median([r.latency for r in self.reloads] or [0]):.2f}s",
            f"process: alive at the end {self.alive_at_end}, exit status {self.exit_code}, "
            f"tracebacks {self.tracebacks}, error log lines {len(self.error_lines)}",
        ]
        for line in self.error_lines[:10]:
            lines.append(f"  {line[:300]}")
        if self.abort_trace:
            lines += ["", self.abort_trace.rstrip()]
        failures = self.failures()
        lines += ["", "RESULT: " + ("PASS" if not failures else "FAIL")]
        lines += [f"  - {f}" for f in failures]
        return "\n".join(lines)


# -- the world and the config ---------------------------------------------------------------


def big_name(i: int) -> str:
    return f"big-{i:06d}"


def small_name(i: int) -> str:
    return f"st-{i:04d}"


def initial_states(settings: SoakSettings) -> dict[StreamId, str]:
    """Big target: active or inactive (a banned stream would look inactive to the first list
    round until the forbid list is read); state target: all three states."""
    rng = random.Random(settings.seed)
    out: dict[StreamId, str] = {}
    for i in range(settings.streams):
        out[(BIG_DOMAIN, big_name(i))] = ACTIVE if rng.random() < 0.5 else INACTIVE
    for i in range(settings.state_streams):
        out[(SMALL_DOMAIN, small_name(i))] = rng.choices(
            (ACTIVE, INACTIVE, FORBID), (0.45, 0.45, 0.1)
        )[0]
    return out


def page_size(settings: SoakSettings) -> int:
    # One page holds the whole online list: with 11% of calls failing, a round of N pages
    # (any failed page fails the round) succeeds with probability 0.89**N.
    return max(100, settings.streams)


def build_simulator(settings: SoakSettings, initial: dict[StreamId, str]) -> Simulator:
    world = World(StreamSpec(domain, APP, name, state=st) for (domain, name), st in initial.items())
    scenario = Scenario(
        max_page_size={ONLINE_LIST: page_size(settings), PUSH_INFO_LIST: 1000, FORBID_LIST: 100},
        seed=settings.seed,
    )
    return Simulator(
        world,
        credentials={SECRET_ID: SECRET_KEY},
        host="127.0.0.1",
        port=0,
        scenario=scenario,
        limits=dict.fromkeys(ACTIONS, 1000),
        seed=settings.seed,
    )


def exporter_config(settings: SoakSettings, sim_url: str, generation: int) -> dict[str, Any]:
    labels = {"soak_reload": str(generation)}  # what each reload changes
    common = {"app": APP, "interval": "10s", "stale_after": "5m", "push_info": True}
    return {
        "accounts": [
            {
                "name": ACCOUNT,
                "endpoint": sim_url,
                "credentials": {"secret_id": SECRET_ID, "secret_key": SECRET_KEY},
                "timeout": f"{round(settings.account_timeout * 1000)}ms",
                "budget_fraction": 1,
                "api_limits": dict.fromkeys(ACTIONS, 1000),
                "max_workers": WORKERS,
                # Pages as large as the fleet are a China-site feature (10..300000).
                "site": "china",
            }
        ],
        "targets": [
            {
                "domain": BIG_DOMAIN,
                "mode": "auto",
                **common,
                "page_size": page_size(settings),
                **(
                    {"round_interval": f"{settings.round_interval:g}s"}
                    if settings.round_interval is not None
                    else {}
                ),
                "labels": labels,
                "streams": [big_name(i) for i in range(settings.streams)],
            },
            {
                "domain": SMALL_DOMAIN,
                "mode": "state",
                **common,
                "labels": labels,
                "streams": [small_name(i) for i in range(settings.state_streams)],
            },
        ],
    }


def write_config(path: Path, config: dict[str, Any]) -> None:
    tmp = path.with_suffix(".tmp")
    tmp.write_text(yaml.safe_dump(config, sort_keys=False))
    os.replace(tmp, path)


def http_request(
    port: int, method: str, path: str, headers: dict[str, str] | None = None, timeout: float = 60
) -> tuple[int, bytes, str]:
    """(status, body, Content-Encoding) of one request on a connection of its own."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        conn.request(method, path, headers=headers or {})
        resp = conn.getresponse()
        return resp.status, resp.read(), resp.getheader("Content-Encoding", "")
    finally:
        conn.close()


# -- the run --------------------------------------------------------------------------------


class Soak:
    def __init__(self, settings: SoakSettings, workdir: Path, log: Callable[[str], None]) -> None:
        self.s = settings
        self.workdir = workdir
        self.log = log
        self.result = SoakResult(settings)
        self.rng = random.Random(settings.seed + 1)
        self.initial = initial_states(settings)
        self.truth = Truth(self.initial)
        self.tracker = Tracker(self.truth)
        self.result.tracker = self.tracker
        self.last_change: dict[StreamId, float] = {}
        self.generation = 0
        self.stop_event = threading.Event()  # the schedule waits on it; set when all is over
        self._scrapes_lock = threading.Lock()
        self._load_scrapes: list[Scrape] = []
        self.children: list[ChildProcess] = []

    # -- scrape records from the child processes -------------------------------------------

    def _on_load(self, line: dict[str, Any]) -> None:
        with self._scrapes_lock:
            self._load_scrapes.append(Scrape(*line["scrape"]))

    def _on_tracker(self, line: dict[str, Any]) -> None:
        record = Scrape(*line["scrape"])
        with self._scrapes_lock:
            self.result.tracker_scrapes.append(record)
        if "summary" in line:
            self.tracker.apply(Summary(*line["summary"]))

    def _stop_children(self) -> None:
        """Stop the scraping processes (if still running) and gather every scrape."""
        for child in self.children:
            child.stop(self.s.scrape_timeout + 10)
            self.result.child_errors += child.errors
        self.children = []
        with self._scrapes_lock:
            every = self._load_scrapes + self.result.tracker_scrapes
        self.result.scrapes = sorted(every, key=lambda x: x.start)

    def _sleep_until(self, when: float) -> None:
        while (now := time.monotonic()) < when:
            self.stop_event.wait(when - now)

    # -- phases ----------------------------------------------------------------------------

    def run(self) -> SoakResult:
        wall = time.monotonic()
        sim = build_simulator(self.s, self.initial)
        sim.start()
        exp: ExporterProcess | None = None
        try:
            config_path = self.workdir / "soak-config.yaml"
            write_config(config_path, exporter_config(self.s, sim.url, self.generation))
            exp = ExporterProcess(config_path, ["--log.level", "info"])
            self._run(sim, exp, config_path)
        except Exception as exc:  # reported with every figure gathered so far
            self.result.aborted = f"{type(exc).__name__}: {exc}"
            self.result.abort_trace = traceback.format_exc()
        finally:
            self._stop_children()
            self.result.changes = list(self.truth.changes)
            self.stop_event.set()
            if exp is not None:
                self.result.alive_at_end = self.result.alive_at_end and exp.proc.poll() is None
                self.result.exit_code = exp.stop()
                lines = list(exp.log_lines)
                self.result.tracebacks = sum(1 for line in lines if "Traceback" in line)
                self.result.error_lines = [line for line in lines if "level=error" in line]
            sim.stop()
            self.result.wall_seconds = time.monotonic() - wall
        return self.result

    def _check_alive(self, exp: ExporterProcess) -> None:
        if exp.proc.poll() is not None:
            raise RuntimeError(f"the exporter exited with status {exp.proc.returncode}")

    def _run(self, sim: Simulator, exp: ExporterProcess, config_path: Path) -> None:
        s, r = self.s, self.result
        port = int(exp.url.rsplit(":", 1)[1])
        monitor = Monitor(exp.proc.pid, self.stop_event)
        monitor.start()
        r.phases["start"] = time.monotonic()

        # Start-up: no faults, only the tracker, until every stream shows its initial state.
        timeout = str(s.scrape_timeout)
        self.children.append(ChildProcess(["tracker", str(port), timeout], self._on_tracker))
        deadline = time.monotonic() + s.startup_timeout
        while not self.tracker.all_known():
            self._check_alive(exp)
            if time.monotonic() > deadline:
                raise TimeoutError(f"not every stream showed its state in {s.startup_timeout}s")
            self.stop_event.wait(0.1)
        warm = time.monotonic()
        self.log(
            f"start-up: all {len(self.initial)} streams shown after {warm - r.phases['start']:.1f}s"
        )

        # Warm-up: faults, changes, reloads and every client; baselines are taken over it.
        self.children.append(
            ChildProcess(
                ["clients", str(port), timeout, str(s.clients - 1), str(s.check_every)],
                self._on_load,
            )
        )
        sim.faults.set(
            "*",
            timeout=s.timeout_rate,
            timeout_hold=s.timeout_hold,
            http_5xx=s.http_5xx_rate,
            malformed_json=s.malformed_json_rate,
            wrong_content_type=s.wrong_content_type_rate,
        )
        run = warm + s.warmup
        end = run + s.duration
        r.phases["warmup"], r.phases["run"] = warm, run
        storm_at, auth_at = s.window_starts()
        events: list[tuple[float, str]] = [
            (run + storm_at, "throttle"),
            (run + auth_at, "auth_failure"),
        ]
        events += [
            (warm + k * s.reload_every, "reload") for k in range(_count(warm, end, s.reload_every))
        ]
        first = warm + s.change_every / 2
        events += [
            (first + k * s.change_every, "change")
            for k in range(_count(first, end, s.change_every))
        ]
        events.sort()
        self.log(
            f"warm-up {s.warmup:.0f}s, then the run: {s.duration:.0f}s; RequestLimitExceeded "
            f"storm at +{storm_at:.0f}s, AuthFailure window at +{auth_at:.0f}s"
        )
        next_note = run
        for at, what in events:
            while (now := time.monotonic()) < at:
                self._check_alive(exp)
                if now >= next_note:
                    self._note(next_note - run, monitor)
                    next_note += 60
                self.stop_event.wait(min(at, next_note) - now)
            if what == "reload":
                self._reload(port, config_path, sim)
            elif what == "change":
                self._change(sim)
            else:
                window = sim.start_window(what, s.window)
                started = time.monotonic()
                r.windows.append((window.code, started, started + s.window))
                self.log(f"+{started - run:.1f}s: {window.code} for {s.window:.0f}s")
        self._sleep_until(end)
        self._check_alive(exp)
        r.phases["end"] = time.monotonic()
        self._note(r.phases["end"] - run, monitor)
        self._figures(monitor, warm, run, r.phases["end"])

        # Drain: clients stopped, no new faults; calls in flight end within the timeout.
        self._stop_children()
        sim.faults.clear()
        self._settle(sim, port)
        self._converge(port)
        self._check_alive(exp)
        r.alive_at_end = True

    def _figures(self, monitor: Monitor, warm: float, run: float, end: float) -> None:
        """RSS and threads: the warm-up's second half against the run's last stretch."""
        r = self.result
        tail = min(30.0, self.s.duration / 4)
        base = monitor.between(warm + self.s.warmup / 2, run)
        last = monitor.between(end - tail, end)
        during = monitor.between(run, end)
        whole = monitor.between(warm, end)
        if not (base and last and during):
            return
        r.rss_start = int(statistics.median(x[1] for x in base))
        r.rss_end = int(statistics.median(x[1] for x in last))
        r.rss_max = max(x[1] for x in during)
        r.threads_base = max(x[2] for x in monitor.between(warm, run))
        r.threads_end = max(x[2] for x in last)
        r.threads_min = min(x[2] for x in during)
        r.threads_max = max(x[2] for x in during)
        if len(whole) >= 2:
            r.cpu_percent = 100 * (whole[-1][3] - whole[0][3]) / (whole[-1][0] - whole[0][0])

    def _note(self, offset: float, monitor: Monitor) -> None:
        sample = monitor.samples[-1] if monitor.samples else (0.0, 0, 0, 0.0)
        with self._scrapes_lock:
            scrapes = len(self._load_scrapes) + len(self.result.tracker_scrapes)
        self.log(
            f"+{offset:.0f}s: {scrapes} scrapes, RSS {mb(sample[1])}, {sample[2]} threads, "
            f"{len(self.truth.changes)} changes, {len(self.tracker.false)} false transitions, "
            f"{len(self.result.reloads)} reloads"
        )

    def _reload(self, port: int, config_path: Path, sim: Simulator) -> None:
        self.generation += 1
        write_config(config_path, exporter_config(self.s, sim.url, self.generation))
        start = time.monotonic()
        try:
            status, body, _ = http_request(port, "POST", "/-/reload")
        except (OSError, http.client.HTTPException) as exc:
            status, body = 0, f"{type(exc).__name__}: {exc}".encode()
        self.result.reloads.append(
            Reload(start, status, time.monotonic() - start, body.decode(errors="replace"))
        )

    def _change(self, sim: Simulator) -> None:
        now = time.monotonic()
        for domain, count in ((BIG_DOMAIN, self.s.streams), (SMALL_DOMAIN, self.s.state_streams)):
            name = self._pick(domain, count, now)
            if name is None:
                continue
            sid = (domain, name)
            old = self.truth.current(sid)
            if domain == BIG_DOMAIN:
                # Mostly on and off; now and then a ban (seen through a confirming state poll
                # or the forbid list).
                other = INACTIVE if old == ACTIVE else ACTIVE
                new = FORBID if old != FORBID and self.rng.random() < 0.1 else other
            else:
                new = self.rng.choice([x for x in (ACTIVE, INACTIVE, FORBID) if x != old])
            self.truth.record(Change(time.monotonic(), domain, name, old, new))
            sim.world.set_state(domain, APP, name, new)
            self.last_change[sid] = now

    def _pick(self, domain: str, count: int, now: float) -> str | None:
        namer = big_name if domain == BIG_DOMAIN else small_name
        for _ in range(100):
            name = namer(self.rng.randrange(count))
            if now - self.last_change.get((domain, name), -math.inf) >= self.s.change_gap:
                return name
        return None

    def _settle(self, sim: Simulator, port: int) -> None:
        """Wait for a moment when the exporter has counted every call the simulator served.

        The exporter goes on polling (without faults now), so the moment must fall between two
        equal readings of the simulator's counters.
        """
        r = self.result
        deadline = time.monotonic() + self.s.drain_timeout
        while True:
            before = sim.counters()
            try:
                _, body, encoding = http_request(
                    port, "GET", "/metrics", headers={"Accept-Encoding": "gzip"}
                )
                text = (gunzip(body) if encoding == "gzip" else body).decode()
                requests, errors = parse_api_counters(text)
            except (OSError, http.client.HTTPException, ValueError, zlib.error):
                requests, errors = {}, {}
            after = sim.counters()
            r.sim_counts, r.exp_requests, r.exp_errors = after, requests, errors
            served = {a: sum(o.values()) for a, o in after.items()}
            if (
                before == after
                and expected_errors(after) == {k: int(v) for k, v in errors.items()}
                and served == {a: int(v) for a, v in requests.items()}
            ):
                r.counts_settled = True
                return
            if time.monotonic() > deadline:
                return
            self.stop_event.wait(0.2)

    def _converge(self, port: int) -> None:
        """Wait until /metrics shows every stream in its scripted state: once the faults are
        off, polling must bring back whatever the chaos delayed, and nothing may stay wrong."""
        r = self.result
        began = time.monotonic()
        deadline = began + self.s.converge_timeout
        streams = self.truth.streams()
        while True:
            try:
                _, body, encoding = http_request(
                    port, "GET", "/metrics", headers={"Accept-Encoding": "gzip"}
                )
                text = (gunzip(body) if encoding == "gzip" else body).decode()
            except (OSError, http.client.HTTPException, ValueError, zlib.error):
                text = ""
            shown = {(m.group(1), m.group(2)): m.group(3) for m in STATE_LINE.finditer(text)}
            wrong = [
                f"{d}/{n} {shown.get((d, n), 'absent')}, scripted {self.truth.current((d, n))}"
                for d, n in streams
                if shown.get((d, n)) != self.truth.current((d, n))
            ]
            if text and not wrong:
                r.converged, r.converge_seconds, r.unconverged = True, time.monotonic() - began, []
                return
            r.unconverged = [f"{len(wrong)} wrong", *wrong[:5]] if text else ["no answer"]
            if time.monotonic() > deadline:
                return
            self.stop_event.wait(1.0)


def _count(start: float, end: float, step: float) -> int:
    """How many of start, start + step, ... fall before end."""
    return max(0, math.ceil((end - start) / step))


def run_soak(
    settings: SoakSettings, workdir: Path, log: Callable[[str], None] = print
) -> SoakResult:
    return Soak(settings, workdir, log).run()


if __name__ == "__main__":
    if len(sys.argv) >= 3 and sys.argv[1] in ("clients", "tracker"):
        sys.exit(_child_main(sys.argv[1:]))
    sys.exit(
        "usage: python -m tests.soak {tracker PORT TIMEOUT | clients PORT TIMEOUT N CHECK_EVERY}"
        " (the soak's scrapers)"
    )
