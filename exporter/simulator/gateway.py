"""The API pipeline of one request: common headers, signature, faults, account state,
windows, rate limit, then the action. Transport-free: takes headers and body, returns a Reply."""

from __future__ import annotations

import hmac
import json
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from http import HTTPStatus
from typing import Any

from exporter.cssapi import ACTIONS, API_VERSION, SERVICE
from exporter.simulator.actions import HANDLERS
from exporter.simulator.counters import Counters
from exporter.simulator.errors import ApiError, invalid_value, missing_parameter
from exporter.simulator.faults import ACCOUNT_OK, STATUS_FAULTS, Decision, Faults
from exporter.simulator.policy import Policy
from exporter.simulator.ratelimit import RateLimiter
from exporter.simulator.signing import (
    UNSIGNED_PAYLOAD,
    SigningKeyCache,
    canonical_request,
    parse_authorization,
    sha256_hex,
    utc_date,
)
from exporter.simulator.world import World

JSON = "application/json"
MAX_CLOCK_SKEW = 300
OTHER_ACTION = "other"


@dataclass(frozen=True)
class Reply:
    """What the HTTP layer writes. ``hold`` set: wait that long, then close without answering.
    ``trickle`` set: write the whole answer, status line included, at that many bytes a second.
    """

    status: int = 200
    body: bytes = b""
    content_type: str = JSON
    delay: float = 0.0
    hold: float | None = None
    trickle: float | None = None


def _encode(response: dict[str, Any]) -> bytes:
    return json.dumps({"Response": response}, ensure_ascii=False, separators=(",", ":")).encode()


def error_body(code: str, message: str, request_id: str) -> bytes:
    return _encode({"Error": {"Code": code, "Message": message}, "RequestId": request_id})


class Gateway:
    def __init__(
        self,
        world: World,
        credentials: Mapping[str, str],
        tokens: Mapping[str, str],
        limiter: RateLimiter,
        faults: Faults,
        counters: Counters,
        policy: Policy,
        *,
        wall_clock: Callable[[], float] = time.time,
    ) -> None:
        self.world = world
        self.credentials = dict(credentials)
        self.tokens = dict(tokens)
        self.limiter = limiter
        self.faults = faults
        self.counters = counters
        self.policy = policy  # replaced whole (Simulator.set_policy), never changed
        self._wall_clock = wall_clock
        self._keys = SigningKeyCache()

    def handle(self, headers: Mapping[str, str], body: bytes) -> Reply:
        """``headers`` must have lower-case names."""
        # A gateway counts a call when it arrives, not after this process has verified its
        # signature under load; otherwise our own scheduling jitter looks like a burst.
        arrived = self.limiter.now()
        request_id = str(uuid.uuid4())
        action = headers.get("x-tc-action") or ""
        label = action if action in ACTIONS else OTHER_ACTION
        decision: Decision | None = None
        try:
            self._check_action(action, headers)
            secret_id = self._authenticate(headers, body)
            decision = self.faults.decide(action)
            if decision is not None and decision.fault is not None:
                return self._fault_reply(label, action, decision, headers, body, request_id)
            params = self._params(body)
            policy = self.policy
            policy.check(action, params)
            self._check_account_and_limits(secret_id, action, arrived)
            if decision is not None and decision.error_code is not None:
                raise ApiError(decision.error_code)
            result = HANDLERS[action](self.world, params, policy)
        except ApiError as exc:
            self.counters.count_request(label, exc.code)
            return Reply(
                body=error_body(exc.code, exc.message, request_id),
                delay=decision.delay if decision else 0.0,
            )
        self.counters.count_request(label, "ok")
        result["RequestId"] = request_id
        return Reply(body=_encode(result), delay=decision.delay if decision else 0.0)

    # steps --------------------------------------------------------------------------------

    @staticmethod
    def _check_action(action: str, headers: Mapping[str, str]) -> None:
        if not action:
            raise missing_parameter("Action")
        version = headers.get("x-tc-version")
        if not version:
            raise missing_parameter("Version")
        if version != API_VERSION:
            raise ApiError(
                "NoSuchVersion",
                f"The requested version `{version}` of service `{SERVICE}` does not exist.",
            )
        if action not in HANDLERS:
            raise ApiError("InvalidAction", f"The requested action `{action}` does not exist.")

    def _authenticate(self, headers: Mapping[str, str], body: bytes) -> str:
        try:
            auth = parse_authorization(headers.get("authorization"))
        except ValueError as exc:
            raise ApiError(
                "AuthFailure.InvalidAuthorization",
                f"The `Authorization` header is invalid: {exc}.",
            ) from None
        raw_timestamp = headers.get("x-tc-timestamp")
        if not raw_timestamp:
            raise missing_parameter("Timestamp")
        try:
            timestamp = int(raw_timestamp)
        except ValueError:
            raise invalid_value("Timestamp", "expected Unix seconds") from None
        secret_key = self.credentials.get(auth.secret_id)
        if secret_key is None:
            raise ApiError("AuthFailure.SecretIdNotFound")
        now = int(self._wall_clock())
        if abs(timestamp - now) > MAX_CLOCK_SKEW:
            raise ApiError(
                "AuthFailure.SignatureExpire",
                f"Signature expired. Timestamp: {timestamp}, server time: {now}; the request "
                "time must be within 5 minutes of the server time. Check your local clock.",
            )
        if auth.service != SERVICE or auth.date != utc_date(timestamp):
            raise ApiError(
                "AuthFailure.SignatureFailure",
                "The credential scope does not match: expected "
                f"`{utc_date(timestamp)}/{SERVICE}/tc3_request`.",
            )
        signed_values: dict[str, str] = {}
        for name in auth.signed_headers:
            value = headers.get(name)
            if value is None:
                raise ApiError(
                    "AuthFailure.InvalidAuthorization",
                    f"The signed header `{name}` is missing from the request.",
                )
            signed_values[name] = value
        payload = (
            UNSIGNED_PAYLOAD.encode()
            if headers.get("x-tc-content-sha256") == UNSIGNED_PAYLOAD
            else body
        )
        canonical = canonical_request(
            method="POST",
            uri="/",
            query="",
            headers=signed_values,
            signed_headers=auth.signed_headers,
            payload_hash=sha256_hex(payload),
        )
        expected = self._keys.signature(
            secret_key, auth.date, auth.service, raw_timestamp, canonical
        )
        if not hmac.compare_digest(expected, auth.signature):
            raise ApiError("AuthFailure.SignatureFailure")
        token = self.tokens.get(auth.secret_id)
        if token is not None and not hmac.compare_digest(
            headers.get("x-tc-token", "").encode(), token.encode()
        ):
            raise ApiError("AuthFailure.TokenFailure")
        return auth.secret_id

    def _check_account_and_limits(self, secret_id: str, action: str, arrived: float) -> None:
        account = self.faults.account_state
        if account != ACCOUNT_OK:
            raise ApiError(account)
        for kind in ("auth_failure", "throttle"):
            window = self.faults.active_window(kind, action)
            if window is not None:
                raise ApiError(window.code)
        admitted, limit = self.limiter.try_acquire(secret_id, action, arrived)
        if not admitted:
            raise ApiError(
                "RequestLimitExceeded",
                f"Your current request times equals to `{limit + 1}` in a second, which "
                f"exceeds the frequency limit `{limit}` for a second. "
                "Please reduce the frequency of calls.",
            )

    @staticmethod
    def _params(body: bytes) -> Mapping[str, Any]:
        if not body.strip():
            return {}
        try:
            params = json.loads(body)
        except ValueError:
            raise ApiError("InvalidParameter", "The request body is not valid JSON.") from None
        if not isinstance(params, dict):
            raise ApiError("InvalidParameter", "The request body must be a JSON object.")
        return params

    def _fault_reply(
        self,
        label: str,
        action: str,
        decision: Decision,
        headers: Mapping[str, str],
        body: bytes,
        request_id: str,
    ) -> Reply:
        fault = decision.fault
        assert fault is not None
        self.counters.count_request(label, fault)
        if fault == "timeout":
            return Reply(delay=decision.delay, hold=decision.hold)
        if fault in ("http_5xx", *STATUS_FAULTS):
            # What a load balancer in front of the API sends: its own page, not an API answer.
            reason = HTTPStatus(decision.status).phrase
            page = f"<html><head><title>{decision.status} {reason}</title></head><body>"
            page += f"<center><h1>{decision.status} {reason}</h1></center></body></html>\n"
            return Reply(
                status=decision.status,
                body=page.encode(),
                content_type="text/html",
                delay=decision.delay,
            )
        if fault == "malformed_json":
            broken = f'{{"Response": {{"RequestId": "{request_id}", StreamState: }}'.encode()
            return Reply(body=broken, delay=decision.delay)
        if fault in ("truncated_json", "trickle"):
            try:
                result = HANDLERS[action](self.world, self._params(body), self.policy)
                result["RequestId"] = request_id
                full = _encode(result)
            except ApiError as exc:
                full = error_body(exc.code, exc.message, request_id)
            if fault == "trickle":  # the real answer, arriving too slowly to be of use
                return Reply(body=full, delay=decision.delay, trickle=decision.trickle)
            return Reply(body=full[: max(1, len(full) // 2)], delay=decision.delay)
        # wrong_content_type: a gateway error page that happens to be JSON, served as HTML
        return Reply(
            body=error_body("InternalError", "An internal error has occurred.", request_id),
            content_type="text/html",
            delay=decision.delay,
        )
