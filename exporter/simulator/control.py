"""The unsigned, test-only control API under ``/-/sim/``: JSON in, JSON out."""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from typing import Any

from exporter.cssapi import ACTIONS, STREAM_STATES
from exporter.simulator.counters import Counters
from exporter.simulator.faults import ANY_ACTION, Faults, check_action
from exporter.simulator.ratelimit import RateLimiter
from exporter.simulator.scenario import (
    DEFAULT_APP,
    ScenarioError,
    parse_duration,
    parse_fault_config,
    parse_stream,
)
from exporter.simulator.world import World

PREFIX = "/-/sim/"

Result = tuple[int, dict[str, Any]]


class BadRequest(Exception):
    pass


class NotFound(Exception):
    pass


def _str_field(body: Mapping[str, Any], name: str, default: str | None = None) -> str:
    value = body.get(name, default)
    if not isinstance(value, str) or not value:
        raise BadRequest(f"'{name}' must be a non-empty string")
    return value


def _stream_key(body: Mapping[str, Any]) -> tuple[str, str, str]:
    return (
        _str_field(body, "domain"),
        _str_field(body, "app", DEFAULT_APP),
        _str_field(body, "stream"),
    )


class ControlApi:
    def __init__(
        self, world: World, faults: Faults, limiter: RateLimiter, counters: Counters
    ) -> None:
        self.world = world
        self.faults = faults
        self.limiter = limiter
        self.counters = counters
        self.callbacks: Any = None  # the CallbackSender, when callbacks are configured
        self._routes: dict[tuple[str, str], Callable[[dict[str, Any]], dict[str, Any]]] = {
            ("GET", "streams"): self._list_streams,
            ("POST", "streams"): self._put_stream,
            ("DELETE", "streams"): self._remove_stream,
            ("POST", "state"): self._set_state,
            ("GET", "faults"): lambda _: self.faults.snapshot(),
            ("POST", "faults"): self._set_faults,
            ("POST", "faults/clear"): self._clear_faults,
            ("POST", "window"): self._window,
            ("POST", "account"): self._account,
            ("GET", "limits"): lambda _: {"limits": self.limiter.limits()},
            ("POST", "limits"): self._set_limit,
            ("GET", "counters"): self._counters,
            ("POST", "counters/reset"): self._reset_counters,
            ("POST", "callbacks/drop"): self._drop_callbacks,
            ("POST", "push_error"): self._push_error,
            ("GET", "history"): self._history,
        }

    def handle(self, method: str, path: str, body: bytes) -> Result:
        route = path[len(PREFIX) :].strip("/")
        handler = self._routes.get((method, route))
        if handler is None:
            if any(r == route for _, r in self._routes):
                return 405, {"error": f"method {method} not allowed on {path}"}
            return 404, {"error": f"no control endpoint {path}"}
        try:
            payload = json.loads(body) if body.strip() else {}
        except ValueError:
            return 400, {"error": "body is not valid JSON"}
        if not isinstance(payload, dict):
            return 400, {"error": "body must be a JSON object"}
        try:
            return 200, handler(payload)
        except NotFound as exc:
            return 404, {"error": str(exc)}
        except (BadRequest, ScenarioError, ValueError, TypeError) as exc:
            return 400, {"error": str(exc).splitlines()[0] if str(exc) else type(exc).__name__}

    # streams ------------------------------------------------------------------------------

    def _list_streams(self, _: dict[str, Any]) -> dict[str, Any]:
        return {"streams": [s._asdict() for s in self.world.streams()]}

    def _put_stream(self, body: dict[str, Any]) -> dict[str, Any]:
        status = self.world.put(parse_stream(body, "body"))
        return {"stream": status._asdict()}

    def _remove_stream(self, body: dict[str, Any]) -> dict[str, Any]:
        key = _stream_key(body)
        try:
            self.world.remove_stream(*key)
        except KeyError:
            raise NotFound(f"unknown stream {'/'.join(key)}") from None
        return {"removed": {"domain": key[0], "app": key[1], "stream": key[2]}}

    def _set_state(self, body: dict[str, Any]) -> dict[str, Any]:
        key = _stream_key(body)
        state = body.get("state")
        if state not in STREAM_STATES:
            raise BadRequest(f"'state' must be one of {', '.join(STREAM_STATES)}")
        errcode = body.get("errcode", 1)
        if isinstance(errcode, bool) or not isinstance(errcode, int) or errcode < 0:
            raise BadRequest("'errcode' must be a non-negative integer (why the push stopped)")
        try:
            status = self.world.set_state(*key, state, errcode)
        except KeyError:
            raise NotFound(f"unknown stream {'/'.join(key)}") from None
        return {"stream": status._asdict()}

    # faults -------------------------------------------------------------------------------

    def _set_faults(self, body: dict[str, Any]) -> dict[str, Any]:
        fields = dict(body)
        action = check_action(_str_field(fields, "action", ANY_ACTION))
        fields.pop("action", None)
        config = parse_fault_config(fields, "body")
        self.faults.set(action, config)
        return {"action": action, "faults": config.to_dict()}

    def _clear_faults(self, _: dict[str, Any]) -> dict[str, Any]:
        self.faults.clear()
        return self.faults.snapshot()

    def _window(self, body: dict[str, Any]) -> dict[str, Any]:
        kind = _str_field(body, "kind")
        if "seconds" not in body:
            raise BadRequest("'seconds' is required")
        seconds = parse_duration(body["seconds"], "seconds")
        action = _str_field(body, "action", ANY_ACTION)
        code = body.get("code")
        if code is not None and not isinstance(code, str):
            raise BadRequest("'code' must be a string")
        window = self.faults.start_window(kind, seconds, action, code)
        return {
            "kind": window.kind,
            "action": window.action,
            "code": window.code,
            "seconds": seconds,
        }

    def _account(self, body: dict[str, Any]) -> dict[str, Any]:
        self.faults.set_account_state(_str_field(body, "state"))
        return {"account_state": self.faults.account_state}

    def _set_limit(self, body: dict[str, Any]) -> dict[str, Any]:
        action = _str_field(body, "action")
        if action not in ACTIONS:
            raise BadRequest(f"unknown action {action!r}")
        self.limiter.set_limit(action, body.get("limit"))  # type: ignore[arg-type]
        return {"limits": self.limiter.limits()}

    # history and callbacks ----------------------------------------------------------------

    def _drop_callbacks(self, body: dict[str, Any]) -> dict[str, Any]:
        """Drop the next ``count`` callbacks; CSS records them as sent with ``result_code``
        (default 1: nothing answered; 0: CSS believes they were delivered)."""
        count, result = body.get("count"), body.get("result_code", 1)
        for name, value in (("count", count), ("result_code", result)):
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                raise BadRequest(f"'{name}' must be a non-negative integer")
        assert isinstance(count, int) and isinstance(result, int)
        self.world.history.drop(count, result)
        return {"drop": count, "result_code": result}

    def _push_error(self, body: dict[str, Any]) -> dict[str, Any]:
        """Send a push-error callback: ``abnormal_event`` is a list of {type, count}."""
        if self.callbacks is None:
            raise BadRequest("callbacks are not configured")
        domain, app, stream = _stream_key(body)
        events = body.get("abnormal_event")
        if not isinstance(events, list) or not events:
            raise BadRequest("'abnormal_event' must be a non-empty list of {type, count}")
        abnormal = []
        for entry in events:
            kind = entry.get("type") if isinstance(entry, dict) else None
            count = entry.get("count", 1) if isinstance(entry, dict) else None
            if not all(isinstance(v, int) and not isinstance(v, bool) for v in (kind, count)):
                raise BadRequest("each abnormal_event entry needs an integer type (and count)")
            abnormal.append((kind, count))
        self.callbacks.push_error(domain, app, stream, abnormal)
        return {"stream": {"domain": domain, "app": app, "stream": stream}, "queued": len(abnormal)}

    def _history(self, _: dict[str, Any]) -> dict[str, Any]:
        history = self.world.history
        return {
            "sessions": len(history.sessions()),
            "callbacks": len(history.callbacks()),
            "dropped": history.dropped,
        }

    # counters -----------------------------------------------------------------------------

    def _counters(self, _: dict[str, Any]) -> dict[str, Any]:
        return {"requests": self.counters.requests(), "callbacks": self.counters.callbacks()}

    def _reset_counters(self, _: dict[str, Any]) -> dict[str, Any]:
        self.counters.reset()
        return {"requests": {}, "callbacks": {}}
