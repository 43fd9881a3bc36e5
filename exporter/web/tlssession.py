"""TLS for one connection over memory BIOs: the handshake, records in, records out.

The connection hands it the bytes it reads and gets back the plaintext; what TLS has to send
(handshake messages, alerts, session tickets, encrypted answers) goes out through ``send``.
"""

from __future__ import annotations

import contextlib
import logging
import ssl
from collections.abc import Callable
from typing import TYPE_CHECKING

from exporter.web.tls import client_cert_allowed

if TYPE_CHECKING:
    from exporter.web.schema import WebConfig

__all__ = ["TLSFailure", "TLSSession"]

log = logging.getLogger(__name__)

_READ_SIZE = 64 * 1024


class TLSFailure(Exception):
    """The handshake failed, the client certificate is refused, or a record is bad."""


class TLSSession:
    def __init__(
        self,
        context: ssl.SSLContext,
        web_config: WebConfig | None,
        peer: str,
        send: Callable[[bytes], None],
    ) -> None:
        self._in = ssl.MemoryBIO()
        self._out = ssl.MemoryBIO()
        self._ssl = context.wrap_bio(self._in, self._out, server_side=True)
        self._web_config = web_config
        self._peer = peer
        self._send = send
        self.handshaken = False

    def receive(self, data: bytes) -> tuple[bytes, bool]:
        """(plaintext, end of stream) from bytes read off the socket. Raises TLSFailure."""
        self._in.write(data)
        if not self.handshaken and not self._handshake():
            return b"", False
        plain: list[bytes] = []
        eof = False
        while True:
            try:
                chunk = self._ssl.read(_READ_SIZE)
            except ssl.SSLWantReadError:
                break
            except ssl.SSLZeroReturnError:
                eof = True
                break
            except ssl.SSLError as exc:
                log.debug("TLS error from %s: %s", self._peer, exc)
                raise TLSFailure(str(exc)) from None
            if not chunk:
                eof = True
                break
            plain.append(chunk)
        self._flush()
        return b"".join(plain), eof

    def _handshake(self) -> bool:
        try:
            self._ssl.do_handshake()
        except ssl.SSLWantReadError:
            self._flush()
            return False
        except ssl.SSLError as exc:
            log.debug("TLS handshake with %s failed: %s", self._peer, exc)
            self._flush()  # the alert tells the client why
            raise TLSFailure(str(exc)) from None
        self._flush()
        config = self._web_config
        if config is not None and not client_cert_allowed(config, self._ssl.getpeercert()):
            log.info("TLS client %s: no certificate SAN in client_allowed_sans; closed", self._peer)
            raise TLSFailure("client certificate not allowed")
        self.handshaken = True
        return True

    def write(self, data: bytes | memoryview) -> None:
        self._ssl.write(data)
        self._flush()

    def close_notify(self) -> None:
        if self.handshaken:
            with contextlib.suppress(ssl.SSLError):
                self._ssl.unwrap()
            self._flush()

    def peer_certificate(self) -> dict[str, object] | None:
        cert = self._ssl.getpeercert() if self.handshaken else None
        return dict(cert) if cert else None

    def _flush(self) -> None:
        pending = self._out.read()
        if pending:
            self._send(pending)
