"""Fault injection: per-action fault rates, time windows of forced errors, account state.

All random draws come from one seeded ``random.Random`` so that a test issuing requests one at
a time sees the same faults on every run.
"""

from __future__ import annotations

import math
import random
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field, fields

from exporter.cssapi import ACTIONS

ANY_ACTION = "*"
# Drawn in this order; at most one applies. A new fault goes where its draw cannot shift the
# draws of the older ones for a config that does not use it (a rate of 0 draws nothing).
TRANSPORT_FAULTS: tuple[str, ...] = (
    "timeout",
    "trickle",
    "http_5xx",
    "http_429",
    "http_503",
    "malformed_json",
    "truncated_json",
    "wrong_content_type",
)
# Faults answered with an HTTP status and a gateway's HTML page instead of an API answer.
STATUS_FAULTS: dict[str, int] = {"http_429": 429, "http_503": 503}
WINDOW_KINDS: dict[str, str] = {
    "throttle": "RequestLimitExceeded",
    "auth_failure": "AuthFailure.SignatureFailure",
    # A gateway shedding load: HTTP 429 or 503 for every call, before any API answer.
    "http_429": "429",
    "http_503": "503",
}
ACCOUNT_OK = "ok"


def check_action(action: str) -> str:
    if action != ANY_ACTION and action not in ACTIONS:
        raise ValueError(f"unknown action {action!r} (expected '*' or one of {', '.join(ACTIONS)})")
    return action


def check_code(code: object, what: str = "code") -> str:
    if not isinstance(code, str) or not code or any(c.isspace() for c in code):
        raise ValueError(f"{what} must be an error code such as 'InternalError', got {code!r}")
    return code


def _number(value: object, name: str, *, rate: bool = False) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ValueError(f"{name} must be a number, got {value!r}")
    number = float(value)
    if math.isnan(number) or number < 0 or (rate and number > 1):
        bound = "between 0 and 1" if rate else ">= 0"
        raise ValueError(f"{name} must be {bound}, got {value!r}")
    return number


# Fields that are amounts (seconds, bytes per second), not rates in [0, 1].
_AMOUNTS = ("latency", "jitter", "timeout_hold", "trickle_bytes_per_second")


@dataclass(frozen=True)
class FaultConfig:
    """Faults of one action (or of every action, under ``"*"``). Rates are in [0, 1]."""

    latency: float = 0.0
    jitter: float = 0.0
    timeout: float = 0.0
    timeout_hold: float = 30.0
    trickle: float = 0.0
    trickle_bytes_per_second: float = 1.0
    http_5xx: float = 0.0
    http_429: float = 0.0
    http_503: float = 0.0
    malformed_json: float = 0.0
    truncated_json: float = 0.0
    wrong_content_type: float = 0.0
    error_rates: Mapping[str, float] = field(default_factory=dict)

    @classmethod
    def from_mapping(cls, data: Mapping[str, object]) -> FaultConfig:
        """Validate a scenario or control-API mapping; the ValueError names the key."""
        known = {f.name for f in fields(cls)}
        values: dict[str, object] = {}
        for key, value in data.items():
            if key not in known:
                raise ValueError(f"unknown fault field {key!r} (known: {', '.join(sorted(known))})")
            if key == "error_rates":
                if not isinstance(value, Mapping):
                    raise ValueError("error_rates must be a mapping of error code to rate")
                values[key] = {
                    check_code(code, "error_rates key"): _number(
                        rate, f"error_rates.{code}", rate=True
                    )
                    for code, rate in value.items()
                }
            else:
                number = _number(value, key, rate=key not in _AMOUNTS)
                if key == "trickle_bytes_per_second" and not number > 0:
                    raise ValueError(f"trickle_bytes_per_second must be > 0, got {value!r}")
                values[key] = number
        return cls(**values)  # type: ignore[arg-type]

    def to_dict(self) -> dict[str, object]:
        out = asdict(self)
        out["error_rates"] = dict(self.error_rates)
        return out


@dataclass(frozen=True)
class Decision:
    """What to do with one request: delay it, then answer normally or with a fault.

    ``trickle``: for the ``trickle`` fault, the rate in bytes per second at which the whole
    answer (status line, headers and body) is written.
    """

    delay: float = 0.0
    fault: str | None = None
    error_code: str | None = None
    hold: float = 0.0
    status: int = 200
    trickle: float = 0.0


@dataclass(frozen=True)
class Window:
    kind: str
    action: str
    code: str
    until: float


class Faults:
    """Mutable fault state shared by all request threads."""

    def __init__(
        self,
        configs: Mapping[str, FaultConfig] | None = None,
        *,
        seed: int = 0,
        clock: Callable[[], float] = time.monotonic,
        account_state: str = ACCOUNT_OK,
    ) -> None:
        self._lock = threading.Lock()
        self._rng = random.Random(seed)
        self._clock = clock
        self._configs: dict[str, FaultConfig] = {}
        self._windows: list[Window] = []
        self._account = ACCOUNT_OK
        for action, config in (configs or {}).items():
            self._configs[check_action(action)] = config
        self.set_account_state(account_state)

    # configs ------------------------------------------------------------------------------

    def set(
        self, action: str, config: FaultConfig | None = None, /, **fields: object
    ) -> FaultConfig:
        """Replace the fault config of ``action`` (``"*"`` for all actions without their own)."""
        check_action(action)
        if config is None:
            config = FaultConfig.from_mapping(fields)
        elif fields:
            raise TypeError("pass either a FaultConfig or fields, not both")
        with self._lock:
            self._configs[action] = config
        return config

    def get(self, action: str) -> FaultConfig | None:
        return self._configs.get(action)

    def effective(self, action: str) -> FaultConfig | None:
        """An action's own config if it has one, else the ``"*"`` config."""
        configs = self._configs
        return configs.get(action) or configs.get(ANY_ACTION)

    def remove(self, action: str) -> None:
        with self._lock:
            self._configs.pop(action, None)

    def clear(self) -> None:
        """Drop every fault config and window and set the account back to ``ok``."""
        with self._lock:
            self._configs.clear()
            self._windows.clear()
            self._account = ACCOUNT_OK

    def reseed(self, seed: int) -> None:
        with self._lock:
            self._rng.seed(seed)

    # windows ------------------------------------------------------------------------------

    def start_window(
        self, kind: str, seconds: float, action: str = ANY_ACTION, code: str | None = None
    ) -> Window:
        """For ``seconds`` from now every call of ``action`` fails with ``code``."""
        if kind not in WINDOW_KINDS:
            raise ValueError(
                f"unknown window kind {kind!r} (expected one of {', '.join(WINDOW_KINDS)})"
            )
        check_action(action)
        seconds = _number(seconds, "seconds")
        if kind in STATUS_FAULTS and code not in (None, WINDOW_KINDS[kind]):
            raise ValueError(f"a {kind} window answers HTTP {WINDOW_KINDS[kind]}; it takes no code")
        code = check_code(code) if code is not None else WINDOW_KINDS[kind]
        window = Window(kind, action, code, self._clock() + seconds)
        with self._lock:
            self._windows.append(window)
        return window

    def active_window(self, kind: str, action: str) -> Window | None:
        if not self._windows:
            return None
        now = self._clock()
        with self._lock:
            self._windows = [w for w in self._windows if w.until > now]
            for window in self._windows:
                if window.kind == kind and window.action in (ANY_ACTION, action):
                    return window
        return None

    # account ------------------------------------------------------------------------------

    @property
    def account_state(self) -> str:
        return self._account

    def set_account_state(self, state: str) -> None:
        """``ok``, or an error code (``ResourceNotFound.StopService``) answered to every call."""
        self._account = check_code(state, "account state")

    # decisions ----------------------------------------------------------------------------

    def decide(self, action: str) -> Decision | None:
        """Draw this request's fate; None means no config applies (the fast path)."""
        for kind, status in STATUS_FAULTS.items():
            if self._windows and self.active_window(kind, action) is not None:
                return Decision(fault=kind, status=status)
        config = self.effective(action)
        if config is None:
            return None
        with self._lock:
            rng = self._rng
            delay = config.latency
            if config.jitter > 0:
                delay += rng.uniform(0.0, config.jitter)
            for name in TRANSPORT_FAULTS:
                rate: float = getattr(config, name)
                if rate > 0 and (rate >= 1 or rng.random() < rate):
                    if name == "http_5xx":
                        # A failing gateway; 503, a gateway shedding load, is http_503.
                        status = rng.choice((502, 504))
                    else:
                        status = STATUS_FAULTS.get(name, 200)
                    return Decision(
                        delay,
                        name,
                        None,
                        config.timeout_hold,
                        status,
                        config.trickle_bytes_per_second if name == "trickle" else 0.0,
                    )
            for code in sorted(config.error_rates):
                rate = config.error_rates[code]
                if rate > 0 and (rate >= 1 or rng.random() < rate):
                    return Decision(delay, None, code)
            return Decision(delay)

    def snapshot(self) -> dict[str, object]:
        now = self._clock()
        with self._lock:
            return {
                "faults": {action: c.to_dict() for action, c in sorted(self._configs.items())},
                "windows": [
                    {
                        "kind": w.kind,
                        "action": w.action,
                        "code": w.code,
                        "remaining": round(w.until - now, 3),
                    }
                    for w in self._windows
                    if w.until > now
                ],
                "account_state": self._account,
            }
