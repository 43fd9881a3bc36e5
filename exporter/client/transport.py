"""The HTTP under the SDK: one deadline for the whole call, and no environment read per call.

How the SDK sends (tencentcloud-sdk-python-common 3.1.195, tencentcloud/common/http/request.py):
``ProxyConnection`` owns one ``requests.Session`` (``self._session``) and calls
``session.request(..., proxies=self.proxy, verify=..., timeout=self.timeout, stream=True)``,
where ``timeout`` is ``HttpProfile.reqTimeout`` and ``self.proxy`` is the profile's proxy or,
read once when the client is made, ``HTTPS_PROXY``/``HTTP_PROXY``. requests turns that timeout
into a bound per socket operation, so an answer trickling one byte a second never times out,
and ``stream=True`` leaves the body to be read later, outside any bound.

So :func:`install` mounts :class:`DeadlineAdapter` on that session. Right before the first byte
of a request is written (connected, signed, built), its connection waits for the call's send
gate (exporter.ratelimit.SendGate), if the client has one for the action: the last moment at
which a second of sends can be kept within the budget. The timeout the SDK passes
becomes a deadline for the call, from connecting to the last byte of the body, which the adapter
reads before it returns. Every socket read takes what is left of the deadline as its timeout
(a per-read check, no timer thread); the connect gets the whole timeout, and the TLS handshake
the remainder (CPython bounds a handshake as a whole). DNS resolution is bounded by the system
resolver only: ``getaddrinfo`` cannot be interrupted.

It also sets ``trust_env = False``: otherwise requests re-reads the proxy variables and looks for
``~/.netrc`` on every call (``Session.merge_environment_settings``, ``get_netrc_auth``), which
costs more the more variables the process has (Kubernetes service links add hundreds). The
proxy the SDK read stays in force: it is passed explicitly with every request.
"""

from __future__ import annotations

import http.client
import io
import socket
import threading
import time
from collections.abc import Callable, Mapping
from typing import Any, cast

import requests
import requests.adapters
from tencentcloud.common.common_client import CommonClient
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool
from urllib3.exceptions import ConnectTimeoutError
from urllib3.poolmanager import PoolManager

# Per calling thread: the gate of the call about to be made (set by CssClient.call) and the
# deadline (time.monotonic) while the adapter sends. A call runs start to end in one thread,
# and each thread has its own SDK client and session.
_current = threading.local()


def set_gate(gate: Callable[[], float] | None) -> None:
    """What the next request of this thread waits for right before its first byte is written
    (``SendGate.wait``, which returns the seconds it waited)."""
    _current.gate = gate


def _pass_gate(conn: HTTPConnection) -> None:
    gate: Callable[[], float] | None = getattr(_current, "gate", None)
    if gate is None:
        return
    if conn.sock is None:
        conn.connect()  # what http.client would do next: connect first, then count the send
    waited = gate()
    deadline: float | None = getattr(_current, "deadline", None)
    if waited and deadline is not None:
        # Waiting for our own budget is not the API's time: the deadline moves with it.
        _current.deadline = deadline + waited


def _remaining() -> float | None:
    deadline: float | None = getattr(_current, "deadline", None)
    return None if deadline is None else deadline - time.monotonic()


class DeadlineExceeded(TimeoutError):
    """The call's deadline passed (a socket timeout to http.client, urllib3 and requests)."""


class _DeadlineReader(io.RawIOBase):
    """The socket as http.client reads it, each read bounded by what is left of the deadline."""

    def __init__(self, sock: socket.socket) -> None:
        super().__init__()
        self._sock = sock
        self._raw = sock.makefile("rb", buffering=0)  # a SocketIO: counted by the socket

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int | None:
        remaining = _remaining()
        if remaining is not None:
            if remaining <= 0:
                raise DeadlineExceeded("the call's deadline passed")
            self._sock.settimeout(remaining)
        return self._raw.readinto(buffer)

    def close(self) -> None:
        if not self.closed:
            self._raw.close()
        super().close()


class _SocketForResponse:
    """What ``http.client.HTTPResponse.__init__`` uses of its socket: ``makefile("rb")``."""

    def __init__(self, sock: socket.socket) -> None:
        self._sock = sock

    def makefile(self, mode: str) -> io.BufferedReader:
        return io.BufferedReader(_DeadlineReader(self._sock))


class _DeadlineResponse(http.client.HTTPResponse):
    def __init__(
        self,
        sock: socket.socket,
        debuglevel: int = 0,
        method: str | None = None,
        url: str | None = None,
    ) -> None:
        super().__init__(cast(socket.socket, _SocketForResponse(sock)), debuglevel, method, url)


def _bounded(new_conn: Callable[[], socket.socket], conn: HTTPConnection) -> socket.socket:
    remaining = _remaining()
    if remaining is not None and remaining <= 0:
        raise ConnectTimeoutError(conn, f"Connection to {conn.host} not tried: deadline passed")
    sock = new_conn()
    remaining = _remaining()
    if remaining is not None:
        if remaining <= 0:
            sock.close()
            raise ConnectTimeoutError(conn, f"Connection to {conn.host} timed out (deadline)")
        # Bounds the TLS handshake and sending the request by the same deadline.
        sock.settimeout(remaining)
    return sock


class _HTTPConnection(HTTPConnection):
    """A connection whose calls keep the deadline and pass the send gate. Also the base of the
    HTTPS one: for it, super() is HTTPSConnection (the MRO puts it before HTTPConnection)."""

    response_class = _DeadlineResponse
    _gated = True  # putrequest clears it: the first send of each request passes the gate

    def _new_conn(self) -> socket.socket:
        return _bounded(super()._new_conn, self)

    def putrequest(self, *args: Any, **kwargs: Any) -> None:
        self._gated = False
        super().putrequest(*args, **kwargs)

    def send(self, data: Any) -> None:
        if not self._gated:
            self._gated = True
            _pass_gate(self)
        super().send(data)


class _HTTPSConnection(_HTTPConnection, HTTPSConnection):
    pass


class _HTTPPool(HTTPConnectionPool):
    ConnectionCls = _HTTPConnection


class _HTTPSPool(HTTPSConnectionPool):
    ConnectionCls = _HTTPSConnection


_POOLS: Mapping[str, type[HTTPConnectionPool]] = {"http": _HTTPPool, "https": _HTTPSPool}


def _use_deadline_pools(manager: PoolManager) -> None:
    # An instance attribute in urllib3 (PoolManager.__init__), so this changes this manager
    # only. SOCKS managers make their own connections and keep per-read timeouts.
    if manager.pool_classes_by_scheme.get("http") is HTTPConnectionPool:
        manager.pool_classes_by_scheme = dict(_POOLS)


class DeadlineAdapter(requests.adapters.HTTPAdapter):
    """An HTTPAdapter whose timeout bounds the whole exchange, body included."""

    def __init__(self) -> None:
        # One calling thread per session: one connection is all it ever uses at once.
        super().__init__(pool_connections=1, pool_maxsize=1)

    def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
        super().init_poolmanager(*args, **kwargs)
        _use_deadline_pools(self.poolmanager)

    def proxy_manager_for(self, proxy: str, **proxy_kwargs: Any) -> PoolManager:
        manager: PoolManager = super().proxy_manager_for(proxy, **proxy_kwargs)
        _use_deadline_pools(manager)
        return manager

    def send(
        self,
        request: requests.PreparedRequest,
        stream: bool = False,
        timeout: Any = None,
        verify: bool | str = True,
        cert: Any = None,
        proxies: Mapping[str, str] | None = None,
    ) -> requests.Response:
        if isinstance(timeout, int | float) and timeout > 0:
            _current.deadline = time.monotonic() + timeout
        try:
            response = super().send(request, True, timeout, verify, cert, proxies)
            # Read the body now, within the deadline: the SDK reads it only after we return.
            response.content  # noqa: B018
            return response
        finally:
            _current.deadline = None


def install(client: CommonClient) -> None:
    """Put the SDK client's session on :class:`DeadlineAdapter`, without re-reading the
    environment per call (see the module docstring for what the SDK does)."""
    session: requests.Session = client.request.conn._session
    session.trust_env = False
    adapter = DeadlineAdapter()
    session.mount("https://", adapter)
    session.mount("http://", adapter)
