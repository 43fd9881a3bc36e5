"""One account's CSS API access over the official SDK; every failure is a classified ApiError."""

from __future__ import annotations

import functools
import json
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol, TypeVar

import requests
from tencentcloud.common.common_client import CommonClient
from tencentcloud.common.credential import Credential, DefaultCredentialProvider
from tencentcloud.common.http.request import ResponsePrettyFormatter
from tencentcloud.common.profile.client_profile import ClientProfile
from tencentcloud.common.profile.http_profile import HttpProfile

from exporter import __version__, cssapi
from exporter.client import transport
from exporter.client.answers import (
    EMPTY_PAGE,
    NOTHING_LIVE,
    Page,
    parse_forbid_page,
    parse_online_page,
    parse_push_page,
    parse_response,
    parse_stream_state,
)
from exporter.client.errors import HttpStatusError, error_from_exception
from exporter.model import ApiError, StreamKey, StreamState
from exporter.ratelimit import SendGate

T = TypeVar("T")

CallHook = Callable[[str, float, "ApiError | None"], None]

# The SDK's logger: call_json logs each answer there at debug level; so does this client.
_sdk_log = logging.getLogger("tencentcloud_sdk_common")


@dataclass(frozen=True)
class ClientSettings:
    account: str
    endpoint_host: str
    scheme: str
    timeout: float
    secret_id: str | None = None
    secret_key: str | None = None
    token: str | None = None
    # (action, requests/s): the budgets. Each action's requests are counted as they leave the
    # socket and kept within the budget in any one second (exporter.ratelimit.SendGate); an
    # action without one is not gated.
    send_limits: tuple[tuple[str, float], ...] = ()

    def __repr__(self) -> str:
        # Dataclass repr would print the key; this object does get logged on errors.
        return f"ClientSettings(account={self.account!r}, endpoint={self.endpoint_host!r})"

    @property
    def endpoint(self) -> str:
        """Where calls go, as errors name it (no credentials in it)."""
        return f"{self.scheme}://{self.endpoint_host}"


class ApiClient(Protocol):
    """What polling needs of one account's API access (CssClient; fakes in tests)."""

    def stream_state(self, key: StreamKey) -> StreamState | ApiError: ...

    def online_page(self, domain: str, app: str, page: int, size: int) -> Page | ApiError: ...

    def push_page(
        self, domain: str, app: str, page: int, size: int, ips: bool = False
    ) -> Page | ApiError: ...

    def forbid_page(self, page: int, size: int) -> Page | ApiError: ...


def decode_answer(resp: requests.Response) -> dict[str, Any]:
    """The ``Response`` object of an HTTP answer: what ``call_json`` does after sending
    (``_check_status``, ``_check_error``, ``json.loads``), with the body decoded once, not twice,
    and the status kept for the error."""
    if resp.status_code != 200:
        raise HttpStatusError(resp.status_code)
    if _sdk_log.isEnabledFor(logging.DEBUG):
        _sdk_log.debug("GetResponse: %s", ResponsePrettyFormatter(resp))
    return parse_response(json.loads(resp.content))


class CssClient:
    """One account's API access. Thread-safe: each calling thread gets its own SDK client,
    because a CommonClient holds one requests.Session and is not documented as thread-safe."""

    def __init__(self, settings: ClientSettings, on_call: CallHook | None = None) -> None:
        self.settings = settings
        self._on_call = on_call
        self._endpoint = settings.endpoint
        self._local = threading.local()
        self._cred_lock = threading.Lock()
        self._credential: Any = None
        self._gates = {action: SendGate(rate) for action, rate in settings.send_limits}

    def _get_credential(self) -> Any:
        with self._cred_lock:
            if self._credential is None:
                s = self.settings
                if s.secret_id and s.secret_key:
                    self._credential = Credential(s.secret_id, s.secret_key, s.token)
                else:
                    # The SDK's chain: env, profile file, CVM role, TKE OIDC. The role-based
                    # credentials it returns refresh themselves.
                    self._credential = DefaultCredentialProvider().get_credentials()
            return self._credential

    def _sdk(self) -> CommonClient:
        client: CommonClient | None = getattr(self._local, "client", None)
        if client is None:
            s = self.settings
            http = HttpProfile(
                protocol=s.scheme, endpoint=s.endpoint_host, reqTimeout=s.timeout, keepAlive=True
            )
            profile = ClientProfile(
                httpProfile=http,
                language="en-US",
                request_client=f"tencent-live-exporter-{__version__}",
            )
            # Region is empty: CSS is not regional and the SDK then omits X-TC-Region.
            client = CommonClient(
                cssapi.SERVICE, cssapi.API_VERSION, self._get_credential(), "", profile
            )
            transport.install(client)
            self._local.client = client
        return client

    def call(
        self,
        action: str,
        params: dict[str, Any],
        parse: Callable[[dict[str, Any]], T] | None = None,
        empty: T | None = None,
    ) -> T | dict[str, Any] | ApiError:
        """One API call; returns the parsed ``Response`` or the classified error. Never raises.

        ``parse`` runs inside the accounting so that an answer which decodes but does not make
        sense is counted as the failed call it is.
        """
        start = time.perf_counter()
        result: T | dict[str, Any] | ApiError
        try:
            # _call is the SDK's own send step of call_json (abstract_client.py): it builds the
            # request, signs it (TC3-HMAC-SHA256) and sends it through the session; with the
            # region breaker off (ClientProfile's default) it returns the requests.Response.
            client = self._sdk()
            gate = self._gates.get(action)
            transport.set_gate(gate.wait if gate is not None else None)
            try:
                answer = client._call(action, params)
            finally:
                transport.set_gate(None)
            response = decode_answer(answer)
            result = parse(response) if parse is not None else response
        except Exception as exc:  # every failure is data here: the caller decides what to do
            timed_out = time.perf_counter() - start >= self.settings.timeout
            result = error_from_exception(exc, self._endpoint, timed_out)
            if empty is not None and result.code == NOTHING_LIVE:
                result = empty
        if self._on_call is not None:
            err = result if isinstance(result, ApiError) else None
            self._on_call(action, time.perf_counter() - start, err)
        return result

    def stream_state(self, key: StreamKey) -> StreamState | ApiError:
        result = self.call(
            cssapi.STATE,
            {"DomainName": key.domain, "AppName": key.app, "StreamName": key.stream},
            parse_stream_state,
        )
        assert not isinstance(result, dict)
        return result

    def online_page(self, domain: str, app: str, page: int, size: int) -> Page | ApiError:
        params = {"DomainName": domain, "AppName": app, "PageNum": page, "PageSize": size}
        # OnlineList documents an empty list for "nothing online", but HasNotLivingStream is
        # the product's answer for that elsewhere (PushInfoList): were it ever given here,
        # reading it as an error would turn every stream of the domain unknown.
        result = self.call(cssapi.ONLINE_LIST, params, parse_online_page, empty=EMPTY_PAGE)
        assert not isinstance(result, dict)
        return result

    def push_page(
        self, domain: str, app: str, page: int, size: int, ips: bool = False
    ) -> Page | ApiError:
        params = {"PushDomain": domain, "AppName": app, "PageNum": page, "PageSize": size}
        parse = functools.partial(parse_push_page, ips=ips)
        result = self.call(cssapi.PUSH_INFO_LIST, params, parse, empty=EMPTY_PAGE)
        assert not isinstance(result, dict)
        return result

    def forbid_page(self, page: int, size: int) -> Page | ApiError:
        params = {"PageNum": page, "PageSize": size}
        result = self.call(cssapi.FORBID_LIST, params, parse_forbid_page)
        assert not isinstance(result, dict)
        return result
